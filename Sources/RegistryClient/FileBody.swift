package import AsyncHTTPClient
import Glibc
package import NIOCore

/// Bytes of files one after another (a store object, or the objects of a pack), read in 4 MiB pieces as the
/// connection takes them, for an upload body: a blob is never held in memory whole.
package struct FileSlices: AsyncSequence, Sendable {
    package typealias Element = ByteBuffer

    package struct Slice: Sendable {
        package var path: String
        package var offset: UInt64
        package var length: UInt64

        package init(path: String, offset: UInt64 = 0, length: UInt64) {
            self.path = path
            self.offset = offset
            self.length = length
        }
    }

    package let slices: [Slice]
    static let pieceBytes = 4 << 20

    package init(_ slices: [Slice]) { self.slices = slices }

    package var count: UInt64 { slices.reduce(0) { $0 + $1.length } }

    /// The bytes `range` of the concatenation.
    package func subrange(_ range: Range<UInt64>) -> FileSlices {
        var result: [Slice] = []
        var start: UInt64 = 0
        for slice in slices {
            let end = start + slice.length
            let from = Swift.max(start, range.lowerBound)
            let to = Swift.min(end, range.upperBound)
            if from < to {
                result.append(Slice(path: slice.path, offset: slice.offset + from - start, length: to - from))
            }
            start = end
        }
        return FileSlices(result)
    }

    /// An upload body with a known length (a `Content-Length`, never chunked transfer encoding).
    package var body: HTTPClientRequest.Body { .stream(self, length: .known(Int64(count))) }

    package struct AsyncIterator: AsyncIteratorProtocol {
        let slices: [Slice]
        var index = 0
        var done: UInt64 = 0
        let file = OpenFile()
        let allocator = ByteBufferAllocator()

        package mutating func next() async throws -> ByteBuffer? {
            while index < slices.count {
                let slice = slices[index]
                if done == slice.length {
                    file.close()
                    index += 1
                    done = 0
                    continue
                }
                if file.descriptor < 0 {
                    file.descriptor = open(slice.path, O_RDONLY | O_CLOEXEC)
                    guard file.descriptor >= 0 else {
                        throw FileSlicesError(message: "cannot open \(slice.path): \(String(cString: strerror(errno)))")
                    }
                }
                let want = Int(Swift.min(UInt64(FileSlices.pieceBytes), slice.length - done))
                var buffer = allocator.buffer(capacity: want)
                let descriptor = file.descriptor
                let offset = off_t(slice.offset + done)
                let read = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: want) { target in
                    pread(descriptor, target.baseAddress, want, offset)
                }
                guard read > 0 else {
                    throw FileSlicesError(
                        message:
                            "\(slice.path) ended at byte \(slice.offset + done), before the \(slice.length) bytes to send"
                    )
                }
                done += UInt64(read)
                return buffer
            }
            return nil
        }
    }

    package func makeAsyncIterator() -> AsyncIterator { AsyncIterator(slices: slices) }
}

/// The file an iterator reads, closed when it moves on or is dropped (an upload cut short).
final class OpenFile {
    var descriptor: Int32 = -1

    func close() {
        if descriptor >= 0 { Glibc.close(descriptor) }
        descriptor = -1
    }

    deinit { close() }
}

/// A file of an upload body could not be read.
package struct FileSlicesError: Error, CustomStringConvertible {
    package var message: String
    package var description: String { message }
}
