public import Foundation
import Glibc
public import PBRCore

/// Paths of the committed samples and helpers shared by the test targets.
public enum Samples {
    /// The package root, found from this source file's location.
    public static let root: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    public static func path(_ relative: String) -> String { root + "/samples/" + relative }

    /// samples/truth.json, parsed with Foundation (independently of pbrepo's own JSON parser).
    public static var truth: [String: Any] { load("truth.json") }

    /// samples/hostile/expected.json.
    public static let hostile: [String: [String: String]] =
        (load("hostile/expected.json") as [String: Any]).mapValues { $0 as? [String: String] ?? [:] }

    private static func load(_ relative: String) -> [String: Any] {
        guard let data = FileManager.default.contents(atPath: path(relative)),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { fatalError("cannot read samples/\(relative): run samples/make_samples.py") }
        return object
    }

    /// Every file of truth.json with its tensors: name → (dtype, shape, bytes, digest).
    public static var truthFiles: [(path: String, format: String, tensors: [String: ExpectedTensor])] {
        let files = truth["files"] as? [String: [String: Any]] ?? [:]
        return files.keys.sorted().map { key in
            let entry = files[key] ?? [:]
            let tensors = (entry["tensors"] as? [String: [String: Any]] ?? [:]).mapValues { value in
                ExpectedTensor(
                    dtype: value["dtype"] as? String ?? "", shape: (value["shape"] as? [Int] ?? []).map(UInt64.init),
                    bytes: UInt64(value["bytes"] as? Int ?? -1), digest: value["xxh3_128"] as? String ?? "")
            }
            return (key, entry["format"] as? String ?? "", tensors)
        }
    }

    /// One of five kinds of damage, chosen by `round`: truncation, scattered byte flips, a byte among the first 64
    /// (header length, superblock), a JSON-significant byte early in the file, or random bytes appended.
    public static func mutate(_ original: Data, round: Int, using generator: inout SplitMix64) -> [UInt8] {
        var bytes = [UInt8](original)
        switch round % 5 {
        case 0: bytes.removeLast(Int.random(in: 1..<bytes.count, using: &generator))
        case 1:
            for _ in 0..<8 {
                bytes[Int.random(in: 0..<bytes.count, using: &generator)] ^= UInt8.random(
                    in: 1...255, using: &generator)
            }
        case 2:
            bytes[Int.random(in: 0..<min(64, bytes.count), using: &generator)] = UInt8.random(
                in: 0...255, using: &generator)
        case 3:
            let position = Int.random(in: 8..<min(400, bytes.count), using: &generator)
            bytes[position] =
                [UInt8(ascii: "{"), UInt8(ascii: "]"), UInt8(ascii: "9"), UInt8(ascii: "\""), 0xFF]
                .randomElement(using: &generator) ?? 0
        default:
            bytes += (0..<Int.random(in: 1...64, using: &generator)).map { _ in
                UInt8.random(in: 0...255, using: &generator)
            }
        }
        return bytes
    }

    /// A fresh empty directory, removed with everything in it when the test process exits.
    ///
    /// Every directory of one run lives under `pbrepo-test-<pid>` in the system's temporary directory; the first
    /// call of a run also removes the roots of earlier runs whose process is gone (killed before it could clean up).
    public static func temporaryDirectory() -> String {
        let path = TemporaryRoot.shared.path + "/" + UUID().uuidString
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// Runs `body` with a fresh empty directory and removes the directory afterwards, whatever `body` does.
    public static func withTemporaryDirectory<R>(_ body: (String) throws -> R) rethrows -> R {
        let path = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try body(path)
    }
}

/// The per-process folder of test temporaries, removed at exit.
final class TemporaryRoot: Sendable {
    static let shared = TemporaryRoot()
    let path: String

    private init() {
        let base = NSTemporaryDirectory()
        path = base + "pbrepo-test-\(getpid())"
        for name in (try? FileManager.default.contentsOfDirectory(atPath: base)) ?? []
        where name.hasPrefix("pbrepo-test-") {
            if let pid = Int32(name.dropFirst("pbrepo-test-".count)), kill(pid, 0) != 0 && errno == ESRCH {
                try? FileManager.default.removeItem(atPath: base + name)
            }
        }
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        atexit { try? FileManager.default.removeItem(atPath: TemporaryRoot.shared.path) }
    }
}

public struct ExpectedTensor: Equatable, Sendable {
    public var dtype: String
    public var shape: [UInt64]
    public var bytes: UInt64
    public var digest: String
}
