import Foundation
import Glibc
import HTTPTypes
package import Hummingbird
package import Logging
import NIOCore
import OCI
import PBRCore

/// The HTTP face of an edge node (Hummingbird 2): the OCI distribution read API — `/v2/`, manifests, blobs with
/// ranges (the suffix form too), tags, an empty referrers list — plus `/metrics` (Prometheus) and `/healthz`.
/// Paths are parsed from their right end, so a repository may have any number of components, even one named
/// `blobs`. Writes are refused: the edge is filled by its misses and by preloading.
package struct EdgeResponder: HTTPResponder {
    package typealias Context = BasicRequestContext
    let node: EdgeNode

    package init(node: EdgeNode) { self.node = node }

    package func respond(to request: Request, context: Context) async throws -> Response {
        let started = ContinuousClock.now
        node.metrics.requestStarted()
        var handler = "other"
        let response: Response
        do {
            (handler, response) = try await route(request)
        } catch let error as EdgeError {
            response = Self.errorResponse(error)
        } catch {
            response = Self.errorResponse(EdgeError(.upstreamFailed, "\(error)"))
        }
        node.metrics.requestEnded(
            handler: handler, method: request.method.rawValue, status: response.status.code,
            duration: ContinuousClock.now - started)
        if response.status.code >= 400 {
            node.logger.info(
                "request refused",
                metadata: [
                    "method": "\(request.method)", "path": "\(request.uri.path)", "status": "\(response.status.code)",
                ])
        }
        return response
    }

    private func route(_ request: Request) async throws -> (String, Response) {
        let path = request.uri.path
        let isHead = request.method == .head
        guard request.method == .get || isHead else {
            throw EdgeError(.unsupported, "\(request.method) \(path): this edge serves reads only")
        }
        if path == "/metrics" {
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            return (
                "metrics",
                Response(
                    status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: node.metrics.text())))
            )
        }
        if path == "/healthz" {
            return ("health", Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "ok\n"))))
        }
        if path == "/v2" || path == "/v2/" {
            var headers = HTTPFields()
            headers[.contentType] = "application/json"
            headers[HTTPField.Name("Docker-Distribution-API-Version")!] = "registry/2.0"
            return ("base", Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: "{}"))))
        }
        guard path.hasPrefix("/v2/") else { throw EdgeError(.nameUnknown, "\(path) is not part of the OCI API") }
        let parts = path.dropFirst(4).split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        let localOnly = request.headers[HTTPField.Name(EdgeSource.peerHeader.name)!] == EdgeSource.peerHeader.value
        if parts.count >= 3, parts[parts.count - 2] == "tags", parts[parts.count - 1] == "list" {
            let repository = try Self.repository(parts.dropLast(2))
            return ("tags", try tags(repository, query: request.uri.queryParameters, head: isHead))
        }
        guard parts.count >= 3 else { throw EdgeError(.nameUnknown, "\(path) is not part of the OCI API") }
        let repository = try Self.repository(parts.dropLast(2))
        let reference = parts[parts.count - 1]
        switch parts[parts.count - 2] {
        case "manifests":
            let manifest = try await node.manifest(repository: repository, reference: reference, localOnly: localOnly)
            var headers = HTTPFields()
            headers[.contentType] = manifest.mediaType
            headers[.contentLength] = String(manifest.bytes.count)
            headers[HTTPField.Name("Docker-Content-Digest")!] = manifest.digest.description
            headers[.eTag] = "\"\(manifest.digest)\""
            let body: ResponseBody = isHead ? ResponseBody() : .init(byteBuffer: ByteBuffer(bytes: manifest.bytes))
            return ("manifest", Response(status: .ok, headers: headers, body: body))
        case "blobs":
            guard let digest = try? OCIDigest(parsing: reference) else {
                throw EdgeError(.invalidRequest, "\(reference) is not a sha256 digest")
            }
            var rangeHeader = request.headers[.range]
            if let condition = request.headers[.ifRange], condition != "\"\(digest)\"" { rangeHeader = nil }
            let answer = try await node.blob(
                repository: repository, digest: digest, rangeHeader: rangeHeader, localOnly: localOnly)
            node.metrics.cache(answer.fetched ? "miss" : "hit")
            return ("blob", try blobResponse(answer, head: isHead))
        case "referrers":
            // No referrers are kept: an empty index, so that clients do not fall back to the tag schema.
            var headers = HTTPFields()
            headers[.contentType] = MediaType.imageIndex
            let empty = #"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#
            return (
                "referrers", Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: empty)))
            )
        default:
            throw EdgeError(.nameUnknown, "\(path) is not part of the OCI API")
        }
    }

    private static func repository(_ parts: ArraySlice<String>) throws -> String {
        let name = parts.joined(separator: "/")
        guard !name.isEmpty, (try? Reference(parsing: "edge/" + name)) != nil else {
            throw EdgeError(.invalidRequest, "\"\(name)\" is not a repository name")
        }
        return name
    }

    private func tags(_ repository: String, query: Parameters, head: Bool) throws -> Response {
        guard var tags = node.catalog.tags(of: repository) else {
            throw EdgeError(.nameUnknown, "repository \(repository) is not on this edge")
        }
        if let last = query["last"].map(String.init) { tags = tags.filter { $0 > last } }
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        if let limit = query["n"].flatMap({ Int($0) }), limit >= 0, limit < tags.count {
            tags = Array(tags.prefix(limit))
            if let last = tags.last {
                headers[HTTPField.Name("Link")!] = "</v2/\(repository)/tags/list?n=\(limit)&last=\(last)>; rel=\"next\""
            }
        }
        let body = JSONValue.object([
            ("name", .string(repository)), ("tags", .array(tags.map { .string($0) })),
        ]).serialized
        return Response(
            status: .ok, headers: headers, body: head ? ResponseBody() : .init(byteBuffer: ByteBuffer(string: body)))
    }

    private func blobResponse(_ answer: EdgeNode.BlobAnswer, head: Bool) throws -> Response {
        var headers = HTTPFields()
        headers[.acceptRanges] = "bytes"
        headers[HTTPField.Name("Docker-Content-Digest")!] = answer.digest.description
        headers[.eTag] = "\"\(answer.digest)\""
        headers[.cacheControl] = "max-age=31536000, immutable"
        let status: HTTPResponse.Status
        switch answer.range {
        case .unsatisfiable:
            headers[.contentRange] = "bytes */\(answer.size)"
            return Response(status: .rangeNotSatisfiable, headers: headers)
        case .whole:
            status = .ok
        case .partial(let range):
            status = .partialContent
            headers[.contentRange] = "bytes \(range.lowerBound)-\(range.upperBound - 1)/\(answer.size)"
        }
        headers[.contentType] = "application/octet-stream"
        let length = answer.length
        headers[.contentLength] = String(length)
        guard !head else { return Response(status: status, headers: headers) }
        let metrics = node.metrics
        let pieces = answer.pieces
        // A small answer is read at once into one buffer: no streaming writer for a 4 KiB block.
        if length <= UInt64(FileReading.pieceBytes) {
            var buffer = ByteBufferAllocator().buffer(capacity: Int(length))
            for piece in pieces {
                try FileReading.read(piece.file, offset: piece.offset, length: piece.length, into: &buffer)
                metrics.served(piece.length, source: piece.source)
            }
            return Response(status: status, headers: headers, body: .init(byteBuffer: buffer))
        }
        return Response(
            status: status, headers: headers,
            body: ResponseBody(contentLength: Int(length)) { writer in
                for piece in pieces {
                    try await FileReading.stream(piece.file, offset: piece.offset, length: piece.length) {
                        try await writer.write($0)
                    }
                    metrics.served(piece.length, source: piece.source)
                }
                try await writer.finish(nil)
            })
    }

    static func errorResponse(_ error: EdgeError) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        let body = JSONValue.object([
            (
                "errors",
                .array([.object([("code", .string(error.ociCode)), ("message", .string(error.message))])])
            )
        ]).serialized
        return Response(
            status: HTTPResponse.Status(code: error.status), headers: headers,
            body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}

/// Reads a file range in pieces into buffers for a response, off the concurrency pool's threads.
enum FileReading {
    static let pieceBytes = 1 << 20

    /// Appends `length` bytes of the file from `offset` to `buffer`.
    static func read(_ file: OpenFile, offset: UInt64, length: UInt64, into buffer: inout ByteBuffer) throws {
        var done: UInt64 = 0
        while done < length {
            let want = Int(length - done)
            let count = try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: want) { raw in
                let count = pread(file.descriptor, raw.baseAddress!, want, off_t(offset + done))
                guard count > 0 else {
                    throw EdgeError(
                        .blobUnknown,
                        "\(file.path) ended at \(offset + done) of \(offset + length): \(String(cString: strerror(errno)))"
                    )
                }
                return count
            }
            done += UInt64(count)
        }
    }

    static func stream(
        _ file: OpenFile, offset: UInt64, length: UInt64, _ send: (ByteBuffer) async throws -> Void
    ) async throws {
        var position = offset
        let end = offset + length
        let allocator = ByteBufferAllocator()
        while position < end {
            let want = Int(min(UInt64(pieceBytes), end - position))
            var buffer = allocator.buffer(capacity: want)
            let read = try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: want) { raw in
                let count = pread(file.descriptor, raw.baseAddress!, want, off_t(position))
                guard count > 0 else {
                    throw EdgeError(
                        .blobUnknown,
                        "\(file.path) ended at \(position) of \(end): \(String(cString: strerror(errno)))")
                }
                return count
            }
            position += UInt64(read)
            try await send(buffer)
        }
    }
}

/// A file opened for an answer, closed when the answer is gone: an eviction that deletes the file meanwhile does
/// not cut the response short.
package final class OpenFile: Sendable {
    package let path: String
    let descriptor: Int32

    init(_ path: String) throws(EdgeError) {
        descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw EdgeError(.blobUnknown, "cannot read \(path): \(String(cString: strerror(errno)))")
        }
        self.path = path
    }

    deinit { close(descriptor) }
}

/// Runs an edge node's HTTP server until SIGTERM or SIGINT (graceful: requests under way finish), then closes the
/// node's connections.
package enum EdgeService {
    /// - Parameter onListening: called with the bound port once the server accepts connections (port 0 binds a
    ///   free one).
    package static func run(
        _ node: EdgeNode, host: String, port: Int, logger: Logger,
        onListening: @escaping @Sendable (Int) -> Void = { _ in }
    ) async throws {
        let application = Application(
            responder: EdgeResponder(node: node),
            configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: "pbrepo"),
            onServerRunning: { channel in onListening(channel.localAddress?.port ?? port) },
            logger: logger)
        do {
            try await application.runService()
        } catch {
            await node.shutdown()
            throw error
        }
        await node.shutdown()
    }
}
