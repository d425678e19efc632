import Foundation
import Glibc

/// A real OCI registry for a test: Debian's `docker-registry` (CNCF distribution 2.8.2) on a free loopback port, with
/// its own config and filesystem storage in a temporary directory, stopped and removed when the value goes away.
/// `make deps` installs the package; without it the tests that need a registry fail saying so.
public final class LocalRegistry: @unchecked Sendable {
    public let host: String
    public let root: String
    public let port: Int
    private let process: Process

    public static let binary = "/usr/bin/docker-registry"

    /// - Parameters:
    ///   - users: user → password of an htpasswd (bcrypt) file the registry then requires (Basic auth).
    ///   - proxyOf: the URL of another registry this one mirrors (pull-through cache mode).
    public init(users: [String: String] = [:], proxyOf upstream: String? = nil) throws {
        guard FileManager.default.isExecutableFile(atPath: Self.binary) else {
            throw FixtureError("\(Self.binary) is missing: `make deps` installs Debian's docker-registry")
        }
        root = Samples.temporaryDirectory()
        var lastLog = ""
        for _ in 0..<5 {
            let port = try Self.freePort()
            var config = """
                version: 0.1
                log: {level: error, accesslog: {disabled: false}}
                storage:
                  filesystem: {rootdirectory: \(root)/data}
                  delete: {enabled: true}
                  cache: {blobdescriptor: inmemory}
                http: {addr: "127.0.0.1:\(port)"}

                """
            if !users.isEmpty {
                var lines: [String] = []
                for (user, password) in users.sorted(by: { $0.key < $1.key }) {
                    lines.append(try Self.htpasswdLine(user: user, password: password))
                }
                try (lines.joined(separator: "\n") + "\n").write(
                    toFile: root + "/htpasswd", atomically: true, encoding: .utf8)
                config += "auth: {htpasswd: {realm: pbrepo-test, path: \(root)/htpasswd}}\n"
            }
            if let upstream { config += "proxy: {remoteurl: \"\(upstream)\"}\n" }
            try config.write(toFile: root + "/config.yml", atomically: true, encoding: .utf8)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: Self.binary)
            process.arguments = ["serve", root + "/config.yml"]
            guard FileManager.default.createFile(atPath: root + "/registry.log", contents: nil),
                let log = FileHandle(forWritingAtPath: root + "/registry.log")
            else { throw FixtureError("cannot create \(root)/registry.log") }
            process.standardOutput = log
            process.standardError = log
            try process.run()
            if Self.waitForListener(port: port, process: process) {
                self.port = port
                self.host = "127.0.0.1:\(port)"
                self.process = process
                return
            }
            process.terminate()
            process.waitUntilExit()
            lastLog = (try? String(contentsOfFile: root + "/registry.log", encoding: .utf8)) ?? ""
        }
        throw FixtureError("docker-registry did not start on loopback: \(lastLog.suffix(2000))")
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(atPath: root)
    }

    public func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }

    /// Where the registry keeps blob `hex` (sha256) on disk: tests damage it there to play a lying registry.
    public func blobPath(_ hex: String) -> String {
        root + "/data/docker/registry/v2/blobs/sha256/\(hex.prefix(2))/\(hex)/data"
    }

    /// What the registry logged (its access log included).
    public var log: String { (try? String(contentsOfFile: root + "/registry.log", encoding: .utf8)) ?? "" }

    /// Lines of the log so far: a mark to read the blob GETs after.
    public var logLines: Int { log.split(separator: "\n").count }

    /// The blob GETs of the access log after line `mark`: the request line (`GET /v2/… HTTP/1.1`) and the bytes the
    /// registry sent, as `… "GET /v2/pb/mlp/blobs/sha256:… HTTP/1.1" 206 1234 "" "pbrepo/0.1"` says.
    public func blobGets(after mark: Int = 0) -> [(request: String, bytes: Int)] {
        log.split(separator: "\n").dropFirst(mark).compactMap { line in
            let fields = line.split(separator: "\"")
            guard fields.count > 2, fields[1].hasPrefix("GET /v2/"), fields[1].contains("/blobs/sha256:") else {
                return nil
            }
            let statusAndSize = fields[2].split(separator: " ")
            return (String(fields[1]), statusAndSize.count >= 2 ? Int(statusAndSize[1]) ?? 0 : 0)
        }
    }

    static func freePort() throws -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw FixtureError("socket: \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(descriptor, pointer, length) == 0 && getsockname(descriptor, pointer, &length) == 0
            }
        }
        guard bound else { throw FixtureError("bind: \(String(cString: strerror(errno)))") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    static func waitForListener(port: Int, process: Process) -> Bool {
        for _ in 0..<200 {
            guard process.isRunning else { return false }
            let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = UInt16(port).bigEndian
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
                }
            }
            close(descriptor)
            if connected { return true }
            usleep(50_000)
        }
        return false
    }

    /// `user:bcrypt(password)` from apache2-utils' htpasswd (`make deps` installs it).
    static func htpasswdLine(user: String, password: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/htpasswd")
        process.arguments = ["-nbB", user, password]
        let out = Pipe()
        process.standardOutput = out
        do {
            try process.run()
        } catch {
            throw FixtureError("/usr/bin/htpasswd is missing: `make deps` installs apache2-utils")
        }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// A test fixture could not be set up.
public struct FixtureError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
