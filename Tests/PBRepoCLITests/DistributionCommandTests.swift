import Crypto
import Foundation
import TestSupport
import Testing

/// `pbrepo push` and `pull` as a user runs them, against docker-registry 2.8.2 on loopback, with skopeo as the
/// independent client on the other side.
@Suite("push and pull through a real registry, with skopeo as the other client")
struct DistributionCommandTests {
    static let base = Samples.path("mlp/mlp-base.safetensors")
    static let fineTune = Samples.path("mlp/mlp-ft-freeze3.safetensors")
    static let skopeo = "/usr/bin/skopeo"

    static func sha256(ofFile path: String) throws -> String {
        SHA256.hash(data: try Data(contentsOf: URL(fileURLWithPath: path))).map { String(format: "%02x", $0) }
            .joined()
    }

    static func isDirectory(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
    }

    static func json(_ run: CommandRun) throws -> [String: Any] {
        let data = Data(run.stdout.utf8)
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any], "\(run.stdout)")
    }

    @Test("push prints what it sent; a re-push sends nothing; pull assembles the file byte for byte")
    func pushAndPullAsAUser() throws {
        let registry = try LocalRegistry()
        let origin = Samples.temporaryDirectory() + "/origin"
        let local = Samples.temporaryDirectory() + "/local"
        #expect(try CommandRun.run(["ingest", "--no-progress", "--store", origin, Self.base]).status == 0)
        #expect(try CommandRun.run(["ingest", "--no-progress", "--store", origin, Self.fineTune]).status == 0)
        let target = "\(registry.host)/pb/mlp:ft"
        let push = try CommandRun.run([
            "push", "--store", origin, "--plain-http", "mlp-ft-freeze3", target, "--json",
        ])
        #expect(push.status == 0, "\(push.stderr)")
        let pushed = try Self.json(push)
        let sent = try #require(pushed["bytes_sent"] as? Int)
        let artifact = try #require(pushed["artifact_bytes"] as? Int)
        #expect(sent > 0 && sent <= artifact + (pushed["manifest_bytes"] as? Int ?? 0))
        #expect((pushed["manifest_digest"] as? String)?.hasPrefix("sha256:") == true)

        let again = try Self.json(
            try CommandRun.run(["push", "--store", origin, "--plain-http", "mlp-ft-freeze3", target, "--json"]))
        #expect(again["bytes_sent"] as? Int == 0)
        #expect(again["manifest_digest"] as? String == pushed["manifest_digest"] as? String)

        let output = Samples.temporaryDirectory() + "/mlp-ft.safetensors"
        let pull = try CommandRun.run([
            "pull", "--store", local, "--plain-http", target, "-o", output, "--json",
        ])
        #expect(pull.status == 0, "\(pull.stderr)")
        let pulled = try Self.json(pull)
        #expect(pulled["model"] as? String == "mlp-ft-freeze3")
        #expect(pulled["manifest_digest"] as? String == pushed["manifest_digest"] as? String)
        #expect(try Self.sha256(ofFile: output) == Self.sha256(ofFile: Self.fineTune))
        #expect(try CommandRun.run(["verify", "--store", local]).status == 0)
    }

    @Test("bad requests fail with a message naming what is wrong, and leave the output and the store alone")
    func badRequestsAreRefused() throws {
        let registry = try LocalRegistry()
        let origin = Samples.temporaryDirectory() + "/origin"
        #expect(try CommandRun.run(["ingest", "--no-progress", "--store", origin, Self.base]).status == 0)

        let unknownModel = try CommandRun.run([
            "push", "--store", origin, "--plain-http", "no-such-model", "\(registry.host)/pb/x:v1",
        ])
        #expect(unknownModel.status != 0)
        #expect(unknownModel.stderr.contains("no-such-model"))

        let unknownTag = try CommandRun.run([
            "pull", "--store", Samples.temporaryDirectory() + "/s", "--plain-http", "\(registry.host)/pb/none:v9",
        ])
        #expect(unknownTag.status != 0)
        #expect(unknownTag.stderr.contains("pb/none"), "\(unknownTag.stderr)")

        let badReference = try CommandRun.run(["pull", "--plain-http", "Not A Reference"])
        #expect(badReference.status != 0)
        #expect(badReference.stderr.contains("Not A Reference"), "\(badReference.stderr)")

        // An output that exists is refused before anything is fetched: the store stays empty, the file unchanged.
        let target = "\(registry.host)/pb/mlp:base"
        #expect(try CommandRun.run(["push", "--store", origin, "--plain-http", "mlp-base", target]).status == 0)
        let output = Samples.temporaryDirectory() + "/taken.safetensors"
        try Data("mine".utf8).write(to: URL(fileURLWithPath: output))
        let local = Samples.temporaryDirectory() + "/local"
        let refused = try CommandRun.run(["pull", "--store", local, "--plain-http", target, "-o", output])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains(output) && refused.stderr.contains("--force"), "\(refused.stderr)")
        #expect(try String(contentsOfFile: output, encoding: .utf8) == "mine")
        let objects = (try? FileManager.default.subpathsOfDirectory(atPath: local + "/objects")) ?? []
        #expect(objects.allSatisfy { Self.isDirectory(local + "/objects/" + $0) }, "fetched: \(objects)")
        #expect(!FileManager.default.fileExists(atPath: local + "/incoming"))
        let forced = try CommandRun.run(["pull", "--store", local, "--plain-http", target, "-o", output, "--force"])
        #expect(forced.status == 0, "\(forced.stderr)")
        #expect(try Self.sha256(ofFile: output) == Self.sha256(ofFile: Self.base))
    }

    /// skopeo copies the artifact into an OCI layout with digests it checks itself; copied back into the registry
    /// under another name by skopeo, pbrepo pulls it as pushed by another client.
    @Test("skopeo copies a pbrepo model byte-exact (its sha256s equal pbrepo's), and pbrepo pulls skopeo's copy")
    func skopeoInteroperates() throws {
        let registry = try LocalRegistry()
        let origin = Samples.temporaryDirectory() + "/origin"
        #expect(try CommandRun.run(["ingest", "--no-progress", "--store", origin, Self.fineTune]).status == 0)
        let target = "\(registry.host)/pb/mlp:ft"
        let pushed = try Self.json(
            try CommandRun.run(["push", "--store", origin, "--plain-http", "mlp-ft-freeze3", target, "--json"]))
        let manifestDigest = try #require(pushed["manifest_digest"] as? String)

        let layout = Samples.temporaryDirectory() + "/layout"
        let copy = try CommandRun.run(
            ["copy", "--src-tls-verify=false", "docker://\(target)", "oci:\(layout):ft"], executable: Self.skopeo)
        #expect(copy.status == 0, "\(copy.stderr)")
        let index = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: layout + "/index.json")))
                as? [String: Any])
        let manifests = try #require(index["manifests"] as? [[String: Any]])
        #expect(manifests.first?["digest"] as? String == manifestDigest, "skopeo rewrote the manifest")
        let blobs = try FileManager.default.contentsOfDirectory(atPath: layout + "/blobs/sha256")
        for blob in blobs {
            #expect(try Self.sha256(ofFile: layout + "/blobs/sha256/" + blob) == blob)
        }
        let manifest = try #require(
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: URL(fileURLWithPath: layout + "/blobs/sha256/" + manifestDigest.dropFirst(7))))
                as? [String: Any])
        let layers = try #require(manifest["layers"] as? [[String: Any]]).compactMap { $0["digest"] as? String }
        let config = try #require((manifest["config"] as? [String: Any])?["digest"] as? String)
        #expect(!layers.isEmpty)
        #expect(Set(blobs) == Set((layers + [config, manifestDigest]).map { String($0.dropFirst(7)) }))

        let copied = "\(registry.host)/pb/by-skopeo:v1"
        let back = try CommandRun.run(
            ["copy", "--dest-tls-verify=false", "oci:\(layout):ft", "docker://\(copied)"], executable: Self.skopeo)
        #expect(back.status == 0, "\(back.stderr)")
        let output = Samples.temporaryDirectory() + "/out.safetensors"
        let pull = try CommandRun.run([
            "pull", "--store", Samples.temporaryDirectory() + "/local", "--plain-http", copied, "-o", output,
        ])
        #expect(pull.status == 0, "\(pull.stderr)")
        #expect(try Self.sha256(ofFile: output) == Self.sha256(ofFile: Self.fineTune))
    }
}
