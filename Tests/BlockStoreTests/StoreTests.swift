import BlockStore
import Foundation
import PBRCore
import TensorFiles
import TestSupport
import Testing
import XXHash

/// Sample models as `make demo` ingests them: name → path.
enum SampleModels {
    static let mlpSafetensors = ["mlp-base", "mlp-ft-freeze1", "mlp-ft-freeze2", "mlp-ft-freeze3", "mlp-ft-freeze4"]
    static var all: [String] {
        mlpSafetensors.map { "mlp/\($0).safetensors" }
            + mlpSafetensors.flatMap { ["mlp/\($0).h5", "mlp/\($0).weights.h5"] }
            + [
                "transformer/tiny-llama-base", "transformer/tiny-llama-ft-sharded", "transformer/tiny-llama-ft-top",
                "transformer/tiny-llama-tied-bf16", "lora/digits-5-9", "lora/digits-rotated",
                "hdf5/dtypes-and-layouts.h5",
            ]
    }
}

@Suite(.serialized) struct StoreTests {
    /// The tensor objects of a safetensors file's recipe, in data order.
    static func tensorObjects(_ file: Recipe.File) -> [String] {
        guard case .safetensors(_, let tensors) = file.content else { return [] }
        return tensors
    }

    func freshStore() throws -> Store { try Store(root: Samples.temporaryDirectory() + "/store") }

    /// Every file of `relative` (a file, or every file of a directory) with its bytes.
    func originalFiles(_ relative: String) throws -> [String: Data] {
        let path = Samples.path(relative)
        var isDirectory: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
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
            _ = try store.ingest(
                Samples.path("mlp/mlp-ft-freeze3.safetensors"), options: IngestOptions(name: first.model))
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
        let victim = try #require(recipe.files.first.map(Self.tensorObjects)?.first)
        let path = store.objects.path(of: try #require(XXH3Digest(hex: victim)))
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

    /// A base and a fine-tune of ~14 MB each: objects above 1 MiB and the output go through direct I/O (the output
    /// through the write-behind threads too), and the fine-tune's deltas through the plane-domain decoder.
    @Test func aLargeGeneratedFamilyAssemblesByteForByteAndChecksItsFiles() throws {
        let directory = Samples.temporaryDirectory()
        var generator = SplitMix64(seed: 11)
        func weights(_ count: Int, width: Int) -> [UInt8] {
            // Small normal-ish values: the exponent byte repeats, the mantissa bytes are noise.
            (0..<count).flatMap { _ -> [UInt8] in
                let value = Float(Int(generator.next() % 2001) - 1000) / 40_000
                let bits = value.bitPattern
                return width == 4
                    ? withUnsafeBytes(of: bits.littleEndian) { Array($0) }
                    : [UInt8(truncatingIfNeeded: bits >> 16), UInt8(truncatingIfNeeded: bits >> 24)]
            }
        }
        let shapes: [(String, DType, [UInt64])] = [
            ("model.embed_tokens.weight", .F32, [512, 1024]), ("model.layers.0.mlp.weight", .F32, [1024, 2048]),
            ("model.layers.1.mlp.weight", .BF16, [1024, 2048]),
        ]
        let base = shapes.map { ($0.0, $0.1, $0.2, weights(Int($0.2.reduce(1, *)), width: $0.1 == .F32 ? 4 : 2)) }
        let tuned = base.map { tensor -> (String, DType, [UInt64], [UInt8]) in
            guard tensor.0.contains("layers") else { return tensor }
            var bytes = tensor.3
            for index in stride(from: 0, to: bytes.count, by: 2) where generator.next() % 4 == 0 {
                bytes[index] ^= 0x01
            }
            return (tensor.0, tensor.1, tensor.2, bytes)
        }
        for (name, tensors) in [("base", base), ("tuned", tuned)] {
            try SafetensorsWriter.write(
                path: directory + "/\(name).safetensors",
                tensors: tensors.map { (name: $0.0, dtype: $0.1, shape: $0.2, bytes: $0.3) })
        }
        let store = try freshStore()
        for name in ["base", "tuned"] { _ = try store.ingest(directory + "/\(name).safetensors") }
        let recipe = try store.recipe(of: "tuned")
        let codecs = try Self.tensorObjects(recipe.files[0]).map { hex -> UInt8 in
            try store.objects.withObject(try #require(XXH3Digest(hex: hex))) { $0[5] }
        }
        #expect(codecs.filter { $0 == ObjectCodec.xorPlanes.rawValue }.count == 2, "\(codecs)")
        for name in ["base", "tuned"] {
            let output = directory + "/\(name).out"
            let result = try store.assemble(name, to: output, options: .init(sha256: true))
            #expect(result.sha256Verified)
            #expect(
                try Data(contentsOf: URL(fileURLWithPath: output))
                    == Data(contentsOf: URL(fileURLWithPath: directory + "/\(name).safetensors")))
        }

        // A client's copy whose recipe lies about the file: the whole-file XXH3 catches it, and the SHA-256 when asked.
        let client = directory + "/client"
        _ = try store.exportBlocks("tuned", to: client)
        func assembleWithRecipe(_ change: (inout Recipe.File) -> Void, sha256: Bool) throws -> StoreError? {
            var lying = try Assembler.recipe(from: client, model: "tuned")
            change(&lying.files[0])
            let output = directory + "/lying-\(UUID().uuidString)"
            do {
                _ = try Assembler.assemble(
                    lying, objects: ObjectDirectory(root: client), to: output, options: .init(sha256: sha256))
            } catch let error as StoreError {
                #expect(!FileManager.default.fileExists(atPath: output))
                return error
            }
            return nil
        }
        let wrongXXH3 = try assembleWithRecipe({ $0.xxh3 = String(repeating: "0", count: 32) }, sha256: false)
        #expect(wrongXXH3?.code == .checksumMismatch && wrongXXH3?.message.contains("XXH3") == true)
        let wrongSHA = { (file: inout Recipe.File) in file.sha256 = String(repeating: "0", count: 64) }
        #expect(try assembleWithRecipe(wrongSHA, sha256: false) == nil)
        #expect(try assembleWithRecipe(wrongSHA, sha256: true)?.code == .checksumMismatch)
    }

    @Test func missingObjectsAreListedBeforeAnythingIsWritten() throws {
        let store = try freshStore()
        let model = try store.ingest(Samples.path("transformer/tiny-llama-ft-sharded")).model
        let client = Samples.temporaryDirectory() + "/client"
        _ = try store.exportBlocks(model, to: client)
        let recipe = try Assembler.recipe(from: client, model: model)
        let gone = Array(recipe.objects.suffix(3))
        for hex in gone {
            try FileManager.default.removeItem(
                atPath: ObjectDirectory(root: client).path(of: try #require(XXH3Digest(hex: hex))))
        }
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
        #expect(
            try Data(contentsOf: URL(fileURLWithPath: output))
                == Data(contentsOf: URL(fileURLWithPath: Samples.path("mlp/mlp-base.safetensors"))))
        #expect(try store.verify().isHealthy)
        #expect(throws: StoreError.self) { try store.remove("mlp-ft-freeze3") }
    }
}
