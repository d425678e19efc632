import BlockStore
import Crypto
import Distribution
import Foundation
import OCI
import PBRCore
import RegistryClient
import TestSupport
import Testing
import XXHash

/// Every sample model of a family, as ingested into a store (name → source path).
let familySamples: [(name: String, path: String)] = [
    ("tiny-llama-base", Samples.path("transformer/tiny-llama-base")),
    ("tiny-llama-ft-top", Samples.path("transformer/tiny-llama-ft-top")),
    ("tiny-llama-ft-sharded", Samples.path("transformer/tiny-llama-ft-sharded")),
    ("tiny-llama-tied-bf16", Samples.path("transformer/tiny-llama-tied-bf16")),
    ("mlp-base", Samples.path("mlp/mlp-base.safetensors")),
    ("mlp-ft-freeze3", Samples.path("mlp/mlp-ft-freeze3.safetensors")),
    ("mlp-base.h5", Samples.path("mlp/mlp-base.h5")),
    ("mlp-ft-freeze2.h5", Samples.path("mlp/mlp-ft-freeze2.h5")),
    ("digits-5-9", Samples.path("lora/digits-5-9")),
    ("digits-adam.weights.h5", Samples.path("keras3/digits-adam.weights.h5")),
]

func client(_ registry: LocalRegistry, credentials: Credentials? = nil) -> RegistryClient {
    var options = RegistryClient.Options()
    options.plainHTTP = true
    options.credentials = credentials
    options.retryDelay = .milliseconds(20)
    return RegistryClient(host: registry.host, options: options)
}

func reference(_ registry: LocalRegistry, _ repository: String, tag: String = "v1") throws -> Reference {
    try Reference(parsing: "\(registry.host)/\(repository):\(tag)")
}

/// sha256 of every regular file under `path` (a file or a folder), by path relative to it.
func fileDigests(_ path: String) throws -> [String: String] {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return [:] }
    if !isDirectory.boolValue {
        return [".": SHA256.hash(data: try Data(contentsOf: URL(fileURLWithPath: path))).description]
    }
    var digests: [String: String] = [:]
    for case let relative as String in FileManager.default.enumerator(atPath: path)! {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path + "/" + relative, isDirectory: &isFolder),
            !isFolder.boolValue
        else { continue }
        digests[relative] =
            SHA256.hash(data: try Data(contentsOf: URL(fileURLWithPath: path + "/" + relative)))
            .description
    }
    return digests
}

/// The object files of a store, by name.
func objectFiles(_ store: Store) -> Set<String> { Set(store.objects.allObjects().map(\.description)) }

/// Stored bytes of the objects `model` needs (with delta bases and chunks), by object.
func requiredObjectSizes(_ store: Store, _ model: String) throws -> [String: UInt64] {
    let required = Assembler.requiredObjects(try store.recipe(of: model), in: store.objects)
    return Dictionary(
        uniqueKeysWithValues: required.present.map { ($0.description, store.objects.size(of: $0)!) })
}

@Suite("Models pushed to and pulled from a real registry (docker-registry 2.8.2 on loopback)")
struct RegistryRoundTripTests {
    @Test("every sample model pushed and pulled into an empty store assembles byte for byte")
    func everySampleRoundTrips() async throws {
        let registry = try LocalRegistry()
        let origin = try Store(root: Samples.temporaryDirectory())
        let local = try Store(root: Samples.temporaryDirectory())
        let registryClient = client(registry)
        for sample in familySamples {
            _ = try origin.ingest(sample.path, options: IngestOptions(name: sample.name))
        }
        for sample in familySamples {
            let result = try await Push.push(
                sample.name, store: origin, to: try reference(registry, "pb/" + sample.name.lowercased()),
                client: registryClient)
            #expect(result.bytesSent <= result.artifactBytes)
        }
        for sample in familySamples.reversed() {
            let result = try await Pull.pull(
                try reference(registry, "pb/" + sample.name.lowercased()), store: local, client: registryClient)
            #expect(result.model == sample.name)
            let output = Samples.temporaryDirectory() + "/out"
            _ = try local.assemble(sample.name, to: output)
            let produced = try fileDigests(output)
            let original = try fileDigests(sample.path)
            #expect(!original.isEmpty)
            #expect(produced == original, "\(sample.name): assembled files differ from the sample's")
        }
        let verified = try local.verify(decode: true)
        #expect(verified.isHealthy)
        #expect(verified.modelsChecked == familySamples.count)
        // The pulled store holds exactly the objects the models need: nothing more came along.
        var needed = Set<String>()
        for sample in familySamples { needed.formUnion(try requiredObjectSizes(local, sample.name).keys) }
        #expect(objectFiles(local) == needed)
        await registryClient.shutdown()
    }

    @Test("a fine-tune whose base is there moves only its unique objects, both ways; a re-push sends nothing")
    func fineTuneMovesItsUniqueObjects() async throws {
        let registry = try LocalRegistry()
        let origin = try Store(root: Samples.temporaryDirectory())
        let registryClient = client(registry)
        _ = try origin.ingest(Samples.path("mlp/mlp-base.safetensors"))
        _ = try origin.ingest(Samples.path("mlp/mlp-ft-freeze3.safetensors"))
        let base = try requiredObjectSizes(origin, "mlp-base")
        let fineTune = try requiredObjectSizes(origin, "mlp-ft-freeze3")
        let unique = fineTune.filter { base[$0.key] == nil }.values.reduce(0, +)
        #expect(unique > 0 && unique < fineTune.values.reduce(0, +))

        _ = try await Push.push(
            "mlp-base", store: origin, to: try reference(registry, "pb/mlp-base"), client: registryClient)
        let pushed = try await Push.push(
            "mlp-ft-freeze3", store: origin, to: try reference(registry, "pb/mlp-ft-freeze3"), client: registryClient)
        // The documents (recipe, model index) are new too; everything else is the fine-tune's own objects.
        let artifact = try ModelArtifact.build("mlp-ft-freeze3", store: origin)
        let documents = artifact.blobs.prefix(2).reduce(UInt64(0)) { $0 + $1.descriptor.size }
        #expect(pushed.bytesSent <= UInt64(Double(unique) * 1.02) + documents)
        #expect(pushed.bytesSent >= unique)
        #expect(pushed.mounted >= 1, "the base's blobs should be mounted from pb/mlp-base, not sent again")

        let again = try await Push.push(
            "mlp-ft-freeze3", store: origin, to: try reference(registry, "pb/mlp-ft-freeze3"), client: registryClient)
        #expect(again.bytesSent == 0)
        #expect(again.manifestDigest == pushed.manifestDigest)

        let local = try Store(root: Samples.temporaryDirectory())
        _ = try await Pull.pull(try reference(registry, "pb/mlp-base"), store: local, client: registryClient)
        let pulled = try await Pull.pull(
            try reference(registry, "pb/mlp-ft-freeze3"), store: local, client: registryClient)
        #expect(pulled.bytesFetched >= unique)
        #expect(Double(pulled.bytesFetched) <= 1.02 * Double(unique))
        #expect(pulled.fetched == fineTune.count - fineTune.keys.filter { base[$0] != nil }.count)
        let again2 = try await Pull.pull(
            try reference(registry, "pb/mlp-ft-freeze3"), store: local, client: registryClient)
        #expect(again2.alreadyPresent && again2.bytesFetched == 0)
        await registryClient.shutdown()
    }

    @Test("a blob the registry damaged is refused naming the object, nothing joins the store; the fixed blob pulls")
    func damagedBlobIsRefused() async throws {
        let registry = try LocalRegistry()
        let origin = try Store(root: Samples.temporaryDirectory())
        let registryClient = client(registry)
        _ = try origin.ingest(Samples.path("transformer/tiny-llama-base"))
        let pushed = try await Push.push(
            "tiny-llama-base", store: origin, to: try reference(registry, "pb/base"), client: registryClient)
        let artifact = try ModelArtifact.build("tiny-llama-base", store: origin)
        #expect(artifact.manifestDigest.description == pushed.manifestDigest)
        // An object in the middle of the largest object layer.
        let victim = artifact.document.objects.max { $0.size < $1.size }!
        let path = registry.blobPath(String(victim.blob.dropFirst(7)))
        let original = try Data(contentsOf: URL(fileURLWithPath: path))
        var damaged = original
        let position = Int(victim.offset + victim.size / 2)
        damaged[position] ^= 0x40
        try damaged.write(to: URL(fileURLWithPath: path))

        let local = try Store(root: Samples.temporaryDirectory())
        await #expect {
            try await Pull.pull(try reference(registry, "pb/base"), store: local, client: registryClient)
        } throws: { error in
            let text = "\(error)"
            return (error as? DistributionError)?.code == .verification && text.contains(victim.name)
                && text.contains("sha256")
        }
        #expect(try local.list().isEmpty)
        #expect(objectFiles(local).isEmpty)

        try original.write(to: URL(fileURLWithPath: path))
        let result = try await Pull.pull(try reference(registry, "pb/base"), store: local, client: registryClient)
        #expect(result.model == "tiny-llama-base")
        #expect(try local.verify(decode: true).isHealthy)
        await registryClient.shutdown()
    }

    @Test("a blob cut short on the registry is refused naming the blob")
    func truncatedBlobIsRefused() async throws {
        let registry = try LocalRegistry()
        let origin = try Store(root: Samples.temporaryDirectory())
        let registryClient = client(registry)
        _ = try origin.ingest(Samples.path("mlp/mlp-base.safetensors"))
        _ = try await Push.push("mlp-base", store: origin, to: try reference(registry, "pb/m"), client: registryClient)
        let artifact = try ModelArtifact.build("mlp-base", store: origin)
        let layer = artifact.blobs.last!.descriptor
        let path = registry.blobPath(layer.digest.hex)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.truncate(atOffset: layer.size / 2)
        try handle.close()
        let local = try Store(root: Samples.temporaryDirectory())
        await #expect {
            try await Pull.pull(try reference(registry, "pb/m"), store: local, client: registryClient)
        } throws: { error in
            "\(error)".contains(layer.digest.description) || "\(error)".contains(layer.digest.hex)
        }
        #expect(try local.list().isEmpty)
        await registryClient.shutdown()
    }

    @Test("a pull resumes: objects checked before an interruption are not fetched again")
    func pullResumesFromCheckedObjects() async throws {
        let registry = try LocalRegistry()
        let origin = try Store(root: Samples.temporaryDirectory())
        let registryClient = client(registry)
        _ = try origin.ingest(Samples.path("transformer/tiny-llama-base"))
        _ = try await Push.push(
            "tiny-llama-base", store: origin, to: try reference(registry, "pb/base"), client: registryClient)
        let artifact = try ModelArtifact.build("tiny-llama-base", store: origin)
        // The first pull dies on the last object of a pack (its last byte damaged), after the objects before it
        // arrived and were checked.
        let pack = artifact.blobs.map(\.descriptor).first { $0.mediaType == MediaType.pack }!
        let members = artifact.document.objects.filter { $0.blob == pack.digest.description }
        #expect(members.count >= 2)
        let last = members.max { $0.offset < $1.offset }!
        let path = registry.blobPath(pack.digest.hex)
        let original = try Data(contentsOf: URL(fileURLWithPath: path))
        var damaged = original
        damaged[damaged.count - 1] ^= 1
        try damaged.write(to: URL(fileURLWithPath: path))
        let local = try Store(root: Samples.temporaryDirectory())
        await #expect {
            try await Pull.pull(try reference(registry, "pb/base"), store: local, client: registryClient)
        } throws: { error in "\(error)".contains(last.name) }
        try original.write(to: URL(fileURLWithPath: path))
        let resumed = try await Pull.pull(try reference(registry, "pb/base"), store: local, client: registryClient)
        #expect(resumed.missing == artifact.document.objects.count)
        #expect(resumed.fetched == 1, "only the damaged object is fetched again")
        #expect(resumed.bytesFetched == last.size)
        let output = Samples.temporaryDirectory() + "/out"
        _ = try local.assemble("tiny-llama-base", to: output)
        #expect(try fileDigests(output) == fileDigests(Samples.path("transformer/tiny-llama-base")))
        await registryClient.shutdown()
    }
}
