import Foundation
import TensorFiles
import TestSupport
import Testing

@Suite struct SafetensorsWriterTests {
    static let safetensorsSamples = Samples.truthFiles.filter { $0.format == "safetensors" }.map(\.path)

    /// Header bytes + tensor bytes in data order rebuild every sample byte for byte, whatever the piece size.
    @Test(arguments: safetensorsSamples)
    func rebuildsSamplesByteForByte(relative: String) throws {
        guard case .safetensors(let model) = try Checkpoint.open(Samples.path(relative)) else {
            Issue.record("not safetensors")
            return
        }
        let directory = Samples.temporaryDirectory()
        for (index, shard) in model.shards.enumerated() {
            let output = directory + "/shard\(index).safetensors"
            let writer = try SafetensorsWriter(path: output, headerJSON: shard.header.json)
            let pieceSize = 1 + index * 977
            for tensor in shard.header.tensorsInDataOrder {
                let bytes = shard.bytes(of: tensor)
                var start = 0
                while start < bytes.count {
                    let end = min(start + pieceSize, bytes.count)
                    try writer.write(UnsafeRawBufferPointer(rebasing: bytes[start..<end]))
                    start = end
                }
            }
            try writer.commit()
            let original = try #require(FileManager.default.contents(atPath: shard.path))
            #expect(FileManager.default.contents(atPath: output) == original, "\(shard.path)")
        }
    }

    /// A file written from tensors alone matches the reference writer's file (safetensors 0.8, one metadata key).
    @Test(arguments: ["lora/digits-5-9/adapter_model.safetensors", "transformer/tiny-llama-base/model.safetensors"])
    func newFilesMatchTheReferenceWriter(relative: String) throws {
        let original = try SafetensorsFile(path: Samples.path(relative))
        let tensors = original.header.tensors.map { tensor in
            (name: tensor.name, dtype: tensor.dtype, shape: tensor.shape, bytes: Array(original.bytes(of: tensor)))
        }
        let output = Samples.temporaryDirectory() + "/new.safetensors"
        try SafetensorsWriter.write(path: output, tensors: tensors.reversed(), metadata: original.header.metadata)
        #expect(FileManager.default.contents(atPath: output) == FileManager.default.contents(atPath: original.path))
    }

    @Test func nothingAppearsUnlessCommittedComplete() throws {
        let directory = Samples.temporaryDirectory()
        let path = directory + "/model.safetensors"
        let header = try SafetensorsHeader.encode(tensors: [("a", .F32, [4])], metadata: nil)
        do {
            let writer = try SafetensorsWriter(path: path, header: header)
            try writer.write([UInt8](repeating: 1, count: 8))
            #expect(throws: TensorFileError.self) { try writer.commit() }  // 8 of 16 bytes
            #expect(throws: TensorFileError.self) { try writer.write([UInt8](repeating: 1, count: 9)) }  // past the end
        }
        // Released without a successful commit: no destination and no temporary file left behind.
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).isEmpty)

        // An existing file survives a failed rewrite untouched.
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: path))
        do {
            let writer = try SafetensorsWriter(path: path, header: header)
            try writer.write([UInt8](repeating: 0, count: 4))
        }
        #expect(FileManager.default.contents(atPath: path) == Data([1, 2, 3]))
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["model.safetensors"])
    }

    @Test func refusesInvalidHeadersAndMismatchedTensors() throws {
        let directory = Samples.temporaryDirectory()
        #expect(throws: TensorFileError.self) {
            try SafetensorsWriter(
                path: directory + "/x.safetensors",
                headerJSON: Array(#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,15]}}"#.utf8))
        }
        #expect(throws: TensorFileError.self) {
            try SafetensorsWriter.write(path: directory + "/y.safetensors", tensors: [("a", .F32, [4], [0, 0, 0])])
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).isEmpty)
    }

    @Test func encodesLikeTheReferenceWriter() throws {
        // Descending dtype order, then byte-wise names ("layers.10" < "layers.2"), padding to 8 with spaces.
        let header = try SafetensorsHeader.encode(
            tensors: [
                ("b", .F16, [1]), ("layers.2", .F32, [1]), ("layers.10", .F32, [1]), ("m", .BOOL, [1]),
                ("i", .I64, [1]),
            ],
            metadata: [("format", "pt")])
        #expect(header.tensorsInDataOrder.map(\.name) == ["i", "layers.10", "layers.2", "b", "m"])
        #expect(header.json.count % 8 == 0)
        #expect(
            String(decoding: header.json, as: UTF8.self).hasPrefix(
                #"{"__metadata__":{"format":"pt"},"i":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}"#))
    }
}
