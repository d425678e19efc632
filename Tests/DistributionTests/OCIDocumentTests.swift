import Foundation
import OCI
import PBRCore
import RegistryClient
import Testing

@Suite("OCI references, digests, documents and challenges")
struct OCIDocumentTests {
    /// The scanner against the spec's own regular expression, on 20,000 seeded strings of the characters that matter.
    @Test func repositoryNamesAgreeWithTheSpecsExpression() {
        let alphabet = Array("ab09._-/A ".utf8)
        var generator = SplitMix64(seed: 65)
        for _ in 0..<20_000 {
            let length = Int.random(in: 1...10, using: &generator)
            let name = String(
                decoding: (0..<length).map { _ in alphabet.randomElement(using: &generator)! }, as: UTF8.self)
            let spec =
                name.wholeMatch(of: #/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*/#) != nil
            #expect(Reference.isRepositoryName(name) == spec, "\(name)")
        }
    }

    @Test("references: host, repository, tag, digest; refused with the reason")
    func references() throws {
        let plain = try Reference(parsing: "127.0.0.1:5000/pb/tiny-llama:v1")
        #expect(plain.host == "127.0.0.1:5000" && plain.repository == "pb/tiny-llama" && plain.tag == "v1")
        #expect(plain.manifestReference == "v1")
        let untagged = try Reference(parsing: "registry.example.com/a/b/c")
        #expect(untagged.tag == nil && untagged.manifestReference == "latest" && untagged.repository == "a/b/c")
        let hex = String(repeating: "ab", count: 32)
        let pinned = try Reference(parsing: "oci://localhost:80/x__y.z-w@sha256:\(hex)")
        #expect(
            pinned.digest?.hex == hex && pinned.repository == "x__y.z-w" && pinned.manifestReference == "sha256:" + hex)
        for bad in [
            "no-host", "host/UPPER", "host/a//b", "host/a:", "host/-a", "host/a___b",
            "host/a:" + String(repeating: "t", count: 129),
            "host/a@sha256:short", "host/a@md5:" + hex, "/a",
        ] {
            #expect(throws: OCIError.self, "\(bad)") { try Reference(parsing: bad) }
        }
    }

    @Test("digests: only sha256 with 64 lowercase hex digits")
    func digests() throws {
        let digest = OCIDigest(of: Array("abc".utf8))
        #expect(digest.description == "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(try OCIDigest(parsing: digest.description) == digest)
        #expect(throws: OCIError.self) { try OCIDigest(parsing: digest.description.uppercased()) }
        #expect(throws: OCIError.self) { try OCIDigest(parsing: "sha512:" + digest.hex) }
        #expect(throws: OCIError.self) { try OCIDigest(parsing: "sha256:" + digest.hex.dropLast()) }
    }

    @Test("canonical JSON: members in key order at every depth, no whitespace")
    func canonical() throws {
        struct Sample: Encodable {
            var zeta = 1
            var alpha = ["b": 2, "a": 1]
            var mid = [["y": true, "x": false]]
        }
        #expect(
            String(decoding: try canonicalJSON(Sample()), as: UTF8.self)
                == #"{"alpha":{"a":1,"b":2},"mid":[{"x":false,"y":true}],"zeta":1}"#)
    }

    @Test("a manifest from a registry is checked: size, layer count, schema, media type against Content-Type")
    func manifestChecks() throws {
        let hex = String(repeating: "0", count: 64)
        let layer = #"{"mediaType":"a/b","digest":"sha256:\#(hex)","size":1}"#
        func manifest(layers: Int, schema: Int = 2, mediaType: String = MediaType.imageManifest) -> [UInt8] {
            Array(
                #"{"schemaVersion":\#(schema),"mediaType":"\#(mediaType)","config":\#(layer),"layers":[\#(Array(repeating: layer, count: layers).joined(separator: ","))]}"#
                    .utf8)
        }
        let good = try ImageManifest(decoding: manifest(layers: 3), contentType: MediaType.imageManifest, name: "m")
        #expect(good.layers.count == 3)
        #expect(throws: OCIError.self) {
            try ImageManifest(decoding: manifest(layers: OCILimits.layers + 1), contentType: nil, name: "m")
        }
        #expect(throws: OCIError.self) {
            try ImageManifest(decoding: manifest(layers: 1, schema: 3), contentType: nil, name: "m")
        }
        #expect(throws: OCIError.self) {
            try ImageManifest(
                decoding: manifest(layers: 1), contentType: "application/vnd.docker.distribution.manifest.v2+json",
                name: "m")
        }
        #expect(throws: OCIError.self) {
            try ImageManifest(
                decoding: Array(repeating: 0x20, count: OCILimits.manifestBytes + 1), contentType: nil, name: "m")
        }
        let badDigest = Array(
            #"{"schemaVersion":2,"config":{"mediaType":"a","digest":"sha256:XYZ","size":1},"layers":[]}"#.utf8)
        #expect(throws: OCIError.self) { try ImageManifest(decoding: badDigest, contentType: nil, name: "m") }
    }

    @Test("WWW-Authenticate challenges: Bearer with quoted parameters, Basic, several at once")
    func challenges() {
        let parsed = AuthChallenge.parse(
            #"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:samalba/my-app:pull,push""#
        )
        #expect(
            parsed == [
                AuthChallenge(
                    scheme: "bearer",
                    parameters: [
                        "realm": "https://auth.docker.io/token", "service": "registry.docker.io",
                        "scope": "repository:samalba/my-app:pull,push",
                    ])
            ])
        let two = AuthChallenge.parse(#"Basic realm="pbrepo-test", Bearer realm="https://x/token""#)
        #expect(two.map(\.scheme) == ["basic", "bearer"])
        #expect(two[1].parameters["realm"] == "https://x/token")
    }
}
