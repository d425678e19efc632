import BlockStore
import XXHash
import Foundation
import TensorFiles
import TestSupport
import Testing

/// Sample models as `make demo` ingests them: name → path.
enum SampleModels {
    static let mlpSafetensors = ["mlp-base", "mlp-ft-freeze1", "mlp-ft-freeze2", "mlp-ft-freeze3", "mlp-ft-freeze4"]
    static var all: [String] {
        mlpSafetensors.map { "mlp/\($0).safetensors" } + mlpSafetensors.flatMap { ["mlp/\($0).h5", "mlp/\($0).weights.h5"] }
            + ["transformer/tiny-llama-base", "transformer/tiny-llama-ft-sharded", "transformer/tiny-llama-ft-top",
                "transformer/tiny-llama-tied-bf16", "lora/digits-5-9", "lora/digits-rotated", "hdf5/dtypes-and-layouts.h5"]
    }
}

@Suite(.serialized) struct StoreTests {
    func freshStore() throws -> Store { try Store(root: Samples.temporaryDirectory() + "/store") }

    /// Every file of `relative` (a file, or every file of a directory) with its bytes.
    func originalFiles(_ relative: String) throws -> [String: Data] {
        let path = Samples.path(relative)
        var isDirectory: ObjCBool = false
        FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
        if !isDirectory.boolValue { return ["": try Data(contentsOf: URL(fileURLWithPath: path))] }
        var files: [String: Data] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: path) {
            files[name] = try Data(contentsOf: URL(fileURLWithPath: path + "/" + name))
        }
        return files
    }

    @Test func everySampleAssemblesByteForByte() throws {
        let store = try freshStore()
        let output = Samples.temporaryDirectory()
        for relative in SampleModels.all {
            let result = try store.ingest(Samples.path(relative))
            #expect(result.status == .added)
            let target = output + "/" + result.model
            _ = try store.assemble(result.model, to: target)
            for (name, original) in try originalFiles(relative) {
                let rebuilt = try Data(contentsOf: URL(fileURLWithPath: name.isEmpty ? target : target + "/" + name))
                #expect(rebuilt == original, "\(relative) \(name)")
            }
        }
        #expect(try store.verify().isHealthy)
    }

    @Test func reingestingChangesNothingAndNamesAreNotReused() throws {
        let store = try freshStore()
        let path = Samples.path("mlp/mlp-ft-freeze2.safetensors")
        let first = try store.ingest(path)
        let objects = store.objects.allObjects().count
        let again = try store.ingest(path)
        #expect(first.status == .added && again.status == .unchanged)
        #expect(store.objects.allObjects().count == objects)
        #expect(try store.list().count == 1)
        do {
            _ = try store.ingest(Samples.path("mlp/mlp-ft-freeze3.safetensors"), options: IngestOptions(name: first.model))
            Issue.record("a different model under an existing name was accepted")
        } catch let error as StoreError {
            #expect(error.code == .conflict)
        }
    }

    @Test func aFlippedByteIsCaughtByVerifyAndAssemble() throws {
        let store = try freshStore()
        for name in SampleModels.mlpSafetensors { _ = try store.ingest(Samples.path("mlp/\(name).safetensors")) }
        let recipe = try store.recipe(of: "mlp-ft-freeze4")
        // The head is the one tensor only this model has.
        let victim = try #require(recipe.files.first?.tensors?.first)
        let path = store.objects.path(of: try #require(XXH3DigestParser.parse(victim)))
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        bytes[bytes.count - 1] ^= 0x40
        try bytes.write(to: URL(fileURLWithPath: path))
        let result = try store.verify()
        #expect(result.corrupt == [victim])
        #expect(result.incompleteModels.contains("mlp-ft-freeze4"))
        let output = Samples.temporaryDirectory() + "/out.safetensors"
        do {
            _ = try store.assemble("mlp-ft-freeze4", to: output)
            Issue.record("assembled from a corrupt object")
        } catch let error as StoreError {
            #expect(error.code == .corruptObject)
            #expect(error.message.contains(victim))
        }
        #expect(!FileManager.default.fileExists(atPath: output))
        // Other models do not need that object and still assemble.
        _ = try store.assemble("mlp-ft-freeze1", to: output)
    }

    @Test func missingObjectsAreListedBeforeAnythingIsWritten() throws {
        let store = try freshStore()
        let model = try store.ingest(Samples.path("transformer/tiny-llama-ft-sharded")).model
        let client = Samples.temporaryDirectory() + "/client"
        _ = try store.exportBlocks(model, to: client)
        let recipe = try Assembler.recipe(from: client, model: model)
        let gone = Array(recipe.objects.suffix(3))
        for hex in gone { try FileManager.default.removeItem(atPath: ObjectDirectory(root: client).path(of: try #require(XXH3DigestParser.parse(hex)))) }
        let output = Samples.temporaryDirectory() + "/model"
        do {
            _ = try Assembler.assemble(recipe, objects: ObjectDirectory(root: client), to: output)
            Issue.record("assembled with missing objects")
        } catch let error as StoreError {
            #expect(error.code == .missingObject)
            #expect(gone.allSatisfy { error.message.contains($0) }, "\(error)")
        }
        #expect(!FileManager.default.fileExists(atPath: output))
    }

    @Test func hostileFilesChangeNothing() throws {
        let store = try freshStore()
        _ = try store.ingest(Samples.path("lora/digits-5-9"))
        let objectsBefore = Set(store.objects.allObjects())
        let modelsBefore = try store.list()
        for name in Samples.hostile.keys.sorted() {
            #expect(throws: (any Error).self, "\(name)") { try store.ingest(Samples.path("hostile/" + name)) }
        }
        #expect(Set(store.objects.allObjects()) == objectsBefore)
        #expect(try store.list() == modelsBefore)
        #expect(try store.verify().isHealthy)
    }

    @Test func removeThenCollectFreesOnlyWhatNoModelNeeds() throws {
        let store = try freshStore()
        for name in ["mlp-base", "mlp-ft-freeze3"] { _ = try store.ingest(Samples.path("mlp/\(name).safetensors")) }
        try store.remove("mlp-ft-freeze3")
        let collected = try store.collectGarbage()
        #expect(collected.objectsRemoved > 0)
        let output = Samples.temporaryDirectory() + "/base.safetensors"
        _ = try store.assemble("mlp-base", to: output)
        #expect(try Data(contentsOf: URL(fileURLWithPath: output)) == Data(contentsOf: URL(fileURLWithPath: Samples.path("mlp/mlp-base.safetensors"))))
        #expect(try store.verify().isHealthy)
        #expect(throws: StoreError.self) { try store.remove("mlp-ft-freeze3") }
    }
}

/// Parses hex digests in tests without depending on XXHash directly.
enum XXH3DigestParser {
    static func parse(_ hex: String) -> XXH3Digest? { XXH3Digest(hex: hex) }
}
