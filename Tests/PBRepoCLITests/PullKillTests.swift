import BlockStore
import Crypto
import Foundation
import Glibc
import PBRCore
import TestSupport
import Testing
import XXHash

/// kill -9 of `pbrepo pull` at random points: each re-run fetches at most what the killed runs had not yet received
/// and checked (read from the registry's access log, not from pbrepo's account), and the last one assembles the
/// model byte for byte with nothing left behind.
@Suite("pull killed at random points", .serialized, .tags(.slow))
struct PullKillTests {
    /// A safetensors file of random bytes: 12 tensors of 4 MiB (layers of their own) and 32 of 256 KiB (packed).
    static func writeModel(_ path: String) throws {
        var sizes = [Int](repeating: 4 << 20, count: 12) + [Int](repeating: 256 << 10, count: 32)
        sizes.sort(by: >)
        var header = "{"
        var offset = 0
        for (position, size) in sizes.enumerated() {
            if position > 0 { header += "," }
            header +=
                "\"t.\(position)\":{\"dtype\":\"U8\",\"shape\":[\(size)],\"data_offsets\":[\(offset),\(offset + size)]}"
            offset += size
        }
        header += "}"
        while header.utf8.count % 8 != 0 { header += " " }
        var bytes = withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { Array($0) } + Array(header.utf8)
        var generator = SplitMix64(seed: 914)
        bytes.reserveCapacity(bytes.count + offset)
        for _ in 0..<(offset / 8) { withUnsafeBytes(of: generator.next()) { bytes += $0 } }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    static func sha256(_ path: String) throws -> String {
        SHA256.hash(data: try Data(contentsOf: URL(fileURLWithPath: path))).map { String(format: "%02x", $0) }
            .joined()
    }

    /// Object bytes a killed pull left that the next one need not fetch: objects in the store, whole staged files
    /// whose sha256 is right, and the bytes of partial files.
    static func kept(store root: String, objects: [String: (size: Int, sha256: String)]) throws -> Int {
        var kept = 0
        let store = ObjectDirectory(root: root)
        let incoming = (try? FileManager.default.contentsOfDirectory(atPath: root + "/incoming")) ?? []
        for (name, object) in objects {
            let digest = XXH3Digest(hex: name)!
            if store.contains(digest) {
                kept += object.size
                continue
            }
            for staging in incoming {
                let path = ObjectDirectory(root: root + "/incoming/" + staging).path(of: digest)
                if let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int,
                    size == object.size, try sha256(path) == object.sha256
                {
                    kept += object.size
                } else if let partial = (try? FileManager.default.attributesOfItem(atPath: path + ".partial"))?[.size]
                    as? Int
                {
                    kept += min(partial, object.size)
                }
            }
        }
        return kept
    }

    @Test("each re-run after kill -9 fetches no more than what was not yet received; the last assembles exactly")
    func killedPullsResume() throws {
        let registry = try LocalRegistry()
        let model = Samples.temporaryDirectory() + "/big.safetensors"
        try Self.writeModel(model)
        let origin = Samples.temporaryDirectory() + "/origin"
        #expect(try CommandRun.run(["ingest", "--no-progress", "--store", origin, model]).status == 0)
        let reference = "\(registry.host)/pb/big:v1"
        #expect(try CommandRun.run(["push", "--store", origin, "--plain-http", "big", reference]).status == 0)
        // What each object file must be, from the origin store.
        let originStore = try Store(root: origin)
        var objects: [String: (size: Int, sha256: String)] = [:]
        for digest in Assembler.requiredObjects(try originStore.recipe(of: "big"), in: originStore.objects).present {
            let path = originStore.objects.path(of: digest)
            objects[digest.description] = (Int(originStore.objects.size(of: digest)!), try Self.sha256(path))
        }
        let total = objects.values.reduce(0) { $0 + $1.size }
        let documents = try documentDigests(registry)

        // How long a whole pull takes here, to kill within it.
        let probe = Samples.temporaryDirectory() + "/probe"
        let begin = DispatchTime.now().uptimeNanoseconds
        #expect(try CommandRun.run(["pull", "--store", probe, "--plain-http", reference]).status == 0)
        let duration = Double(DispatchTime.now().uptimeNanoseconds - begin) / 1e9

        var local = Samples.temporaryDirectory() + "/local"
        var generator = SplitMix64(seed: 1403)
        var killed = 0
        for round in 0..<10 {
            let have = try Self.kept(store: local, objects: objects)
            let mark = registry.logLines
            let process = try CommandRun.start(["pull", "--store", local, "--plain-http", reference])
            usleep(UInt32(Double.random(in: 0.005...max(0.01, 0.9 * duration), using: &generator) * 1e6))
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            // Object bytes this run received, as the registry sent them (ranges of layers and packs).
            let sent = Self.objectBytes(registry, after: mark, documents: documents)
            #expect(sent <= total - have, "round \(round): \(sent) object bytes sent with \(have) of \(total) kept")
            if process.terminationReason == .uncaughtSignal {
                killed += 1
            } else {
                // It finished before the kill: the next rounds start from an empty store again.
                #expect(process.terminationStatus == 0)
                local = Samples.temporaryDirectory() + "/local"
            }
        }
        #expect(killed >= 5, "only \(killed) of 10 pulls were killed mid-way (a pull took \(duration) s)")

        let have = try Self.kept(store: local, objects: objects)
        let mark = registry.logLines
        let output = Samples.temporaryDirectory() + "/out.safetensors"
        let last = try CommandRun.run(["pull", "--store", local, "--plain-http", reference, "-o", output])
        #expect(last.status == 0, "\(last.stderr)")
        let sent = Self.objectBytes(registry, after: mark, documents: documents)
        #expect(sent <= total - have)
        #expect(try Self.sha256(output) == Self.sha256(model))
        #expect(try CommandRun.run(["verify", "--store", local]).status == 0)
        let leftovers = (try? FileManager.default.contentsOfDirectory(atPath: local + "/incoming")) ?? []
        #expect(leftovers.isEmpty, "staging left behind: \(leftovers)")
    }

    /// The recipe and model index blobs (fetched again by every run, not objects).
    func documentDigests(_ registry: LocalRegistry) throws -> Set<String> {
        let text = try CommandRun.run(
            [
                "-s", "-H", "Accept: application/vnd.oci.image.manifest.v1+json",
                "http://\(registry.host)/v2/pb/big/manifests/v1",
            ], executable: "/usr/bin/curl"
        ).stdout
        let manifest = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        let config = try #require((manifest["config"] as? [String: Any])?["digest"] as? String)
        let index = try #require((manifest["layers"] as? [[String: Any]])?.first?["digest"] as? String)
        return [config, index]
    }

    /// Object bytes the registry sent after line `mark` (the recipe and model index left out).
    static func objectBytes(_ registry: LocalRegistry, after mark: Int, documents: Set<String>) -> Int {
        registry.blobGets(after: mark).filter { get in !documents.contains { get.request.contains($0) } }
            .reduce(0) { $0 + $1.bytes }
    }
}
