import Foundation
import HDF5
import TensorFiles
import TestSupport
import Testing
import XXHash

/// Every committed sample, read by pbrepo, must agree with what Python (safetensors, h5py, xxhash) recorded in
/// samples/truth.json when the samples were made.
@Suite struct SampleCheckpointTests {
    static let files = Samples.truthFiles

    @Test(arguments: files.map(\.path))
    func inspectionMatchesTruth(relative: String) throws {
        let expected = try #require(Self.files.first { $0.path == relative })
        let inspection = try Inspection.run(path: Samples.path(relative))
        #expect(inspection.format.rawValue == expected.format)
        let found = Dictionary(uniqueKeysWithValues: inspection.tensors.map { ($0.descriptor.name, $0) })
        #expect(Set(found.keys) == Set(expected.tensors.keys), "tensor names of \(relative)")
        for (name, truth) in expected.tensors {
            let tensor = try #require(found[name], "\(relative): \(name)")
            #expect(tensor.descriptor.dtype == truth.dtype, "\(relative): \(name)")
            #expect(tensor.descriptor.shape == truth.shape, "\(relative): \(name)")
            #expect(tensor.descriptor.byteCount == truth.bytes, "\(relative): \(name)")
            #expect(tensor.digest.description == truth.digest, "\(relative): \(name)")
        }
    }

    @Test func frozenCopiesHaveTheBaseModelsDigests() throws {
        let frozen = Samples.truth["frozen_copies"] as? [String: [String: Any]] ?? [:]
        #expect(frozen.count >= 14, "4 MLP fine-tunes × 3 formats + 2 transformer fine-tunes")
        var digests: [String: [String: String]] = [:]
        func digestsOf(_ relative: String) throws -> [String: String] {
            if let known = digests[relative] { return known }
            let inspection = try Inspection.run(path: Samples.path(relative))
            let table = Dictionary(
                uniqueKeysWithValues: inspection.tensors.map { ($0.descriptor.name, $0.digest.description) })
            digests[relative] = table
            return table
        }
        for (relative, entry) in frozen {
            let base = try digestsOf(try #require(entry["base"] as? String))
            let model = try digestsOf(relative)
            let pairs = entry["tensors"] as? [[String: String]] ?? []
            #expect(!pairs.isEmpty)
            for pair in pairs {
                let tensor = try #require(pair["tensor"])
                let baseTensor = try #require(pair["base_tensor"])
                #expect(model[tensor] != nil && model[tensor] == base[baseTensor], "\(relative): \(tensor)")
            }
        }
    }

    @Test func shardedCheckpointReadsAsOneModelFromDirectoryOrIndex() throws {
        let directory = Samples.path("transformer/tiny-llama-ft-sharded")
        let viaDirectory = try Inspection.run(path: directory)
        let viaIndex = try Inspection.run(path: directory + "/model.safetensors.index.json")
        guard case .safetensors(let model) = try Checkpoint.open(directory) else {
            Issue.record("not read as safetensors")
            return
        }
        #expect(model.shards.count == 2)
        #expect(model.index != nil)
        #expect(viaDirectory.tensors == viaIndex.tensors)
        #expect(
            viaDirectory.metadata.contains { $0.key == "total_size" && $0.value == String(viaDirectory.totalBytes) })
    }

    @Test func kerasLegacyLayoutListsLayersInModelOrder() throws {
        guard case .hdf5(let checkpoint) = try Checkpoint.open(Samples.path("mlp/mlp-ft-freeze2.h5")) else {
            Issue.record("not read as HDF5")
            return
        }
        let layout = try #require(KerasLayout.detect(checkpoint))
        #expect(layout.kind == .legacyH5)
        #expect(layout.layers.map(\.name) == ["dense_10", "dense_11", "dense_12", "dense_13", "dropout_2", "dense_14"])
        #expect(
            layout.layers[0].weights == [
                "model_weights/dense_10/sequential_2/dense_10/kernel",
                "model_weights/dense_10/sequential_2/dense_10/bias",
            ])
        #expect(layout.layers[4].weights.isEmpty)
    }

    @Test func keras3LayoutUsesTheVarsNameAttribute() throws {
        guard case .hdf5(let checkpoint) = try Checkpoint.open(Samples.path("mlp/mlp-ft-freeze3.weights.h5")) else {
            Issue.record("not read as HDF5")
            return
        }
        let layout = try #require(KerasLayout.detect(checkpoint))
        #expect(layout.kind == .kerasV3)
        #expect(layout.layers.map(\.name) == ["dense_15", "dense_16", "dense_17", "dense_18", "dense_19", "dropout_3"])
        #expect(layout.layers[0].weights == ["layers/dense/vars/0", "layers/dense/vars/1"])
    }

    @Test func splitKerasAttributesAreJoined() throws {
        guard case .hdf5(let checkpoint) = try Checkpoint.open(Samples.path("hdf5/dtypes-and-layouts.h5")) else {
            Issue.record("not read as HDF5")
            return
        }
        let split = try #require(checkpoint.nodes.first { $0.path == "split_attributes" })
        #expect(KerasLayout.joinedStrings(split.attributes, "layer_names") == ["a", "b", "c"])
        let metadata = Dictionary(uniqueKeysWithValues: Checkpoint.hdf5(checkpoint).metadata.map { ($0.key, $0.value) })
        #expect(metadata["text_utf8"] == "naïve ✓ weights")
        #expect(metadata["fixed_strings"] == #"["ab","c"]"#)
        #expect(metadata["floats"] == "[1.5,2.5]")
        #expect(metadata["count"] == "7")
    }
}

/// `Checkpoint.layout(ofFile:length:)` is what the store splices by: every extent it names must hold exactly the
/// bytes whose digest Python recorded for that tensor, and a safetensors file must be its header plus its extents.
@Suite struct FileLayoutTests {
    @Test(arguments: Samples.truthFiles.map(\.path))
    func extentsHoldTheTensorsTruthDigests(relative: String) throws {
        let expected = try #require(Samples.truthFiles.first { $0.path == relative })
        let path = Samples.path(relative)
        let checkpoint = try Checkpoint.open(path)
        let names = try checkpoint.tensors().map(\.name)
        let isDirectory = FileManager.default.fileExists(atPath: path + "/.")
        let files = isDirectory ? try FileManager.default.contentsOfDirectory(atPath: path).sorted() : [""]
        var covered = Set<Int>()
        for member in files {
            let filePath = isDirectory ? path + "/" + member : path
            let file = try #require(FileManager.default.contents(atPath: filePath))
            let name = isDirectory ? member : String(relative.split(separator: "/").last ?? "")
            switch checkpoint.layout(ofFile: name, length: file.count) {
            case .safetensors(let header, let tensors):
                #expect(Array(file.prefix(header.count)) == header)
                #expect(
                    tensors.reduce(header.count) { $0 + $1.length } == file.count,
                    "\(relative): only header and tensors")
                try check(tensors, file: file, names: names, expected: expected, relative: relative)
                covered.formUnion(tensors.map(\.tensor))
            case .embedded(let extents):
                #expect(expected.format == "hdf5")
                #expect(zip(extents, extents.dropFirst()).allSatisfy { $0.offset <= $1.offset })
                try check(extents, file: file, names: names, expected: expected, relative: relative)
                covered.formUnion(names.indices)
            case .other:
                #expect(
                    isDirectory && !member.hasSuffix(".safetensors"),
                    "\(relative)/\(member): a checkpoint file without tensors")
            }
        }
        #expect(covered.count == names.count, "\(relative): every tensor lies in some file")
        #expect(checkpoint.layout(ofFile: "config.json", length: 10) == .other)
    }

    func check(
        _ extents: [TensorExtent], file: Data, names: [String],
        expected: (path: String, format: String, tensors: [String: ExpectedTensor]), relative: String
    ) throws {
        for extent in extents {
            let bytes = [UInt8](file[extent.offset..<(extent.offset + extent.length)])
            let truth = try #require(expected.tensors[names[extent.tensor]], "\(relative): \(names[extent.tensor])")
            #expect(xxh3_128(bytes).description == truth.digest, "\(relative): \(names[extent.tensor])")
        }
    }
}
