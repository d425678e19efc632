import Foundation
import Glibc
import PBRCore
import TestSupport
import Testing

@Suite struct AtomicFileTests {
    /// Directories on different file systems: the VM's disk (O_DIRECT) and, when present, tmpfs (which may refuse it).
    static let directories: [String] = {
        var found = [NSTemporaryDirectory()]
        if FileManager.default.fileExists(atPath: "/dev/shm") { found.append("/dev/shm/") }
        return found
    }()

    func leftovers(in directory: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasPrefix(".pbrepo-tmp-") }
    }

    /// Sizes around the 4 KiB block and the 8 MiB staging buffer, and one that keeps the write-behind threads busy.
    @Test(arguments: [0, 1, 4095, 4096, 4097, (8 << 20) - 1, 8 << 20, (8 << 20) + 1, (27 << 20) + 12_345])
    func everyByteArrivesWithDirectIO(size: Int) throws {
        var generator = SplitMix64(seed: UInt64(size) + 1)
        let content = (0..<size).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
        for root in Self.directories {
            let directory = root + "pbrepo-atomic-" + UUID().uuidString
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let path = directory + "/out.bin"
            let file = try AtomicFile(destination: path, directIO: true)
            // Pieces of random sizes, so that copies into the staging buffer start and end anywhere.
            var offset = 0
            while offset < content.count {
                let piece = min(content.count - offset, Int(generator.next() % (3 << 20)) + 1)
                try content.withUnsafeBytes {
                    try file.write(UnsafeRawBufferPointer(rebasing: $0[offset..<(offset + piece)]))
                }
                offset += piece
            }
            #expect(!FileManager.default.fileExists(atPath: path), "visible before commit")
            try file.commit()
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data(content), "\(root) \(size)")
            #expect(try leftovers(in: directory).isEmpty)
        }
    }

    @Test func anAbandonedWriterLeavesNothing() throws {
        for root in Self.directories {
            let directory = root + "pbrepo-atomic-" + UUID().uuidString
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: directory) }
            do {
                let file = try AtomicFile(destination: directory + "/out.bin", directIO: true)
                try file.write([UInt8](repeating: 7, count: 20 << 20))
            }
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory).isEmpty)
        }
    }

    @Test func aFailedWriteIsReportedWithThePath() throws {
        // /dev/full accepts the open and fails every write with ENOSPC, like a full disk.
        guard FileManager.default.fileExists(atPath: "/dev/full") else { return }
        let directory = Samples.temporaryDirectory()
        let path = directory + "/full.bin"
        let file = try AtomicFile(destination: path)
        let full = open("/dev/full", O_WRONLY)
        defer { close(full) }
        #expect(dup2(full, fileDescriptor(of: file)) >= 0)
        let caught = #expect(throws: FileError.self) {
            try file.write([UInt8](repeating: 1, count: 3 << 20))
            try file.commit()
        }
        let error = try #require(caught)
        #expect(error.path == path)
        #expect(error.code == .io)
        #expect(error.message.contains("write failed"), "\(error)")
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    /// The descriptor behind an open AtomicFile, found through /proc (the type does not expose it).
    func fileDescriptor(of file: AtomicFile) -> Int32 {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? [] {
            if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/" + name),
                target == file.temporaryPath, let fd = Int32(name)
            {
                return fd
            }
        }
        return -1
    }
}
