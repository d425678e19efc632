import AsyncHTTPClient
import Crypto
import Foundation
import NIOCore
import OCI
import PBRCore
import RegistryClient
import TestSupport
import Testing

/// Random bytes of a seeded stream (reproducible).
func randomBytes(_ count: Int, seed: UInt64) -> [UInt8] {
    var generator = SplitMix64(seed: seed)
    return (0..<count).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
}

func fetchAll(
    _ client: RegistryClient, _ repository: String, _ digest: OCIDigest, size: UInt64, range: Range<UInt64>? = nil
)
    async throws -> [UInt8]
{
    var bytes: [UInt8] = []
    _ = try await client.fetchBlob(repository: repository, digest: digest, size: size, range: range) {
        bytes += $0.readableBytesView
    }
    return bytes
}

@Suite("The registry client against docker-registry 2.8.2 and its quirks")
struct RegistryClientTests {
    @Test("a chunked upload follows the registry's Range answers (2.8.2 ignores Content-Range); ranges read back")
    func chunkedUploadAndRanges() async throws {
        let registry = try LocalRegistry()
        let registryClient = client(registry)
        let bytes = randomBytes(300_001, seed: 7)
        let digest = OCIDigest(of: bytes)
        try await registryClient.uploadChunked(
            repository: "pb/chunked", digest: digest, size: UInt64(bytes.count), chunkBytes: 65536
        ) { range in
            .bytes(ByteBuffer(bytes: bytes[Int(range.lowerBound)..<Int(range.upperBound)]))
        }
        #expect(try await registryClient.blobSize(repository: "pb/chunked", digest: digest) == UInt64(bytes.count))
        #expect(try await fetchAll(registryClient, "pb/chunked", digest, size: UInt64(bytes.count)) == bytes)
        let part = try await fetchAll(
            registryClient, "pb/chunked", digest, size: UInt64(bytes.count), range: 1000..<70_000)
        #expect(part == Array(bytes[1000..<70_000]))
        await registryClient.shutdown()
    }

    @Test("a blob's digest is checked by the registry on upload; a wrong one is refused with its reason")
    func wrongDigestRefused() async throws {
        let registry = try LocalRegistry()
        let registryClient = client(registry)
        let bytes = randomBytes(1000, seed: 1)
        let wrong = OCIDigest(of: randomBytes(1000, seed: 2))
        await #expect {
            try await registryClient.upload(repository: "pb/x", digest: wrong, size: 1000) {
                .bytes(ByteBuffer(bytes: bytes))
            }
        } throws: { error in
            (error as? RegistryError)?.code == .refused && "\(error)".contains("DIGEST_INVALID")
        }
        await registryClient.shutdown()
    }

    @Test("mount: 201 from a repository that has the blob, 202 (and no mount) from one that does not")
    func mountAnswers() async throws {
        let registry = try LocalRegistry()
        let registryClient = client(registry)
        let bytes = randomBytes(5000, seed: 3)
        let digest = OCIDigest(of: bytes)
        try await registryClient.upload(repository: "pb/a", digest: digest, size: 5000) {
            .bytes(ByteBuffer(bytes: bytes))
        }
        #expect(try await registryClient.blobSize(repository: "pb/b", digest: digest) == nil)
        #expect(try await registryClient.mount(repository: "pb/b", digest: digest, from: "pb/nowhere") == false)
        #expect(try await registryClient.blobSize(repository: "pb/b", digest: digest) == nil)
        #expect(try await registryClient.mount(repository: "pb/b", digest: digest, from: "pb/a"))
        #expect(try await registryClient.blobSize(repository: "pb/b", digest: digest) == 5000)
        await registryClient.shutdown()
    }

    @Test("tags come back sorted although 2.8.2 lists them unsorted; a manifest over 4 MiB is refused with the reason")
    func tagsAndOversizedManifest() async throws {
        let registry = try LocalRegistry()
        let registryClient = client(registry)
        let config = Array("{}".utf8)
        let configDigest = OCIDigest(of: config)
        try await registryClient.upload(repository: "pb/t", digest: configDigest, size: 2) {
            .bytes(ByteBuffer(bytes: config))
        }
        let manifest = ImageManifest(
            artifactType: MediaType.model,
            config: Descriptor(mediaType: MediaType.empty, digest: configDigest, size: 2), layers: [])
        let bytes = try canonicalJSON(manifest)
        let names = ["zeta", "alpha", "mid-1", "Beta", "mid-10", "mid-2"]
        for tag in names {
            _ = try await registryClient.putManifest(
                repository: "pb/t", reference: tag, bytes: bytes, mediaType: MediaType.imageManifest)
        }
        #expect(try await registryClient.tags(repository: "pb/t") == names.sorted())
        let fetched = try await registryClient.manifest(repository: "pb/t", reference: "alpha")
        #expect(fetched.bytes == bytes)
        #expect(fetched.digest == OCIDigest(of: bytes))

        var huge = manifest
        huge.annotations = ["padding": String(repeating: "x", count: OCILimits.manifestBytes)]
        let hugeBytes = try canonicalJSON(huge)
        await #expect {
            _ = try await registryClient.putManifest(
                repository: "pb/t", reference: "huge", bytes: hugeBytes, mediaType: MediaType.imageManifest)
        } throws: { error in
            // 2.8.2 answers 400 MANIFEST_INVALID where the spec says 413.
            (error as? RegistryError)?.status == 400 && "\(error)".contains("MANIFEST_INVALID")
        }
        await #expect {
            _ = try await registryClient.manifest(repository: "pb/t", reference: "nothing")
        } throws: { error in (error as? RegistryError)?.code == .notFound }
        await registryClient.shutdown()
    }

    @Test("Basic auth: refused without credentials, naming the registry; pushes and reads with them")
    func basicAuthentication() async throws {
        let registry = try LocalRegistry(users: ["alice": "s3cret-pass"])
        let anonymous = client(registry)
        await #expect {
            try await anonymous.ping()
        } throws: { error in
            (error as? RegistryError)?.code == .unauthorized && "\(error)".contains(registry.host)
        }
        let wrong = client(registry, credentials: Credentials(username: "alice", password: "nope"))
        await #expect {
            try await wrong.ping()
        } throws: { error in (error as? RegistryError)?.code == .unauthorized }
        let alice = client(registry, credentials: Credentials(username: "alice", password: "s3cret-pass"))
        try await alice.ping()
        let bytes = randomBytes(4096, seed: 9)
        let digest = OCIDigest(of: bytes)
        try await alice.upload(repository: "pb/auth", digest: digest, size: 4096) { .bytes(ByteBuffer(bytes: bytes)) }
        #expect(try await fetchAll(alice, "pb/auth", digest, size: 4096) == bytes)
        await anonymous.shutdown()
        await wrong.shutdown()
        await alice.shutdown()
    }

    @Test("credentials come from the file docker and skopeo write ($REGISTRY_AUTH_FILE)")
    func credentialsFromAuthFile() throws {
        let directory = Samples.temporaryDirectory()
        let encoded = Data("bob:pa:ss".utf8).base64EncodedString()
        try
            #"{"auths": {"127.0.0.1:5000": {"auth": "\#(encoded)"}, "https://other.example/v1/": {"username": "u", "password": "p"}}}"#
            .write(toFile: directory + "/auth.json", atomically: true, encoding: .utf8)
        let environment = ["REGISTRY_AUTH_FILE": directory + "/auth.json", "HOME": directory]
        #expect(
            try Credentials.find(for: "127.0.0.1:5000", environment: environment)
                == Credentials(username: "bob", password: "pa:ss"))
        #expect(
            try Credentials.find(for: "other.example", environment: environment)
                == Credentials(username: "u", password: "p"))
        #expect(try Credentials.find(for: "unknown.example", environment: environment) == nil)
        try #"{"auths": {"127.0.0.1:5000": {"auth": "not base64!"}}}"#.write(
            toFile: directory + "/auth.json", atomically: true, encoding: .utf8)
        #expect(throws: RegistryError.self) { try Credentials.find(for: "127.0.0.1:5000", environment: environment) }
    }
}
