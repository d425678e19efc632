import BlockStore
import Foundation
import PBRCore
import TensorFiles
import TestSupport
import Testing
import XXHash

/// Contents larger than the chunk size are lists of chunk objects (issue 13): made here from small models with a
/// 64 KiB chunk size, and checked against the source bytes, not against what the store says of itself.
@Suite(.serialized) struct ChunkedObjectTests {
    static let chunkBytes = 64 << 10

    /// A base and a fine-tune: a 512 KiB F32 embedding whose last rows the fine-tune changes (8 chunks, 7 shared),
    /// a 256 KiB BF16 weight it perturbs everywhere (4 chunks, each a delta against the base's), a small bias.
    struct Family {
        var directory: String
        var base: [(name: String, dtype: DType, shape: [UInt64], bytes: [UInt8])]
        var tuned: [(name: String, dtype: DType, shape: [UInt64], bytes: [UInt8])]

        var basePath: String { directory + "/base.safetensors" }
        var tunedPath: String { directory + "/tuned.safetensors" }
    }

    static func family() throws -> Family {
        let directory = Samples.temporaryDirectory()
        var generator = SplitMix64(seed: 13)
        func weights(_ count: Int, width: Int) -> [UInt8] {
            (0..<count).flatMap { _ -> [UInt8] in
                let bits = (Float(Int(generator.next() % 2001) - 1000) / 40_000).bitPattern
                return width == 4
                    ? withUnsafeBytes(of: bits.littleEndian) { Array($0) }
                    : [UInt8(truncatingIfNeeded: bits >> 16), UInt8(truncatingIfNeeded: bits >> 24)]
            }
        }
        let base: [(name: String, dtype: DType, shape: [UInt64], bytes: [UInt8])] = [
            ("embed.weight", .F32, [512, 256], weights(512 * 256, width: 4)),
            ("layers.0.mlp.weight", .BF16, [256, 512], weights(256 * 512, width: 2)),
            ("layers.0.mlp.bias", .F32, [64], weights(64, width: 4)),
        ]
        var tuned = base
        for index in (tuned[0].bytes.count - 1024)..<tuned[0].bytes.count { tuned[0].bytes[index] ^= 0x5A }
        for index in stride(from: 0, to: tuned[1].bytes.count, by: 2) where generator.next() % 4 == 0 {
            tuned[1].bytes[index] ^= 0x01
        }
        let family = Family(directory: directory, base: base, tuned: tuned)
        try SafetensorsWriter.write(path: family.basePath, tensors: base)
        try SafetensorsWriter.write(path: family.tunedPath, tensors: tuned)
        return family
    }

    func store() throws -> Store {
        try Store(root: Samples.temporaryDirectory() + "/store", chunkBytes: Self.chunkBytes)
    }

    func tensorObjects(_ store: Store, _ model: String) throws -> [XXH3Digest] {
        let recipe = try store.recipe(of: model)
        guard case .safetensors(_, let tensors) = try #require(recipe.files.first).content else { return [] }
        return try tensors.map { try #require(XXH3Digest(hex: $0)) }
    }

    func expectAssembles(_ store: Store, _ model: String, as source: String) throws {
        let output = Samples.temporaryDirectory() + "/\(model).safetensors"
        _ = try store.assemble(model, to: output)
        #expect(FileManager.default.contentsEqual(atPath: output, andPath: source), "\(model)")
    }

    @Test func largeTensorsAreListsOfChunksThatHoldTheSourceBytes() throws {
        let family = try Self.family()
        let store = try store()
        _ = try store.ingest(family.basePath)
        let objects = try tensorObjects(store, "base")
        for tensor in family.base {
            let object = xxh3_128(tensor.bytes)
            #expect(objects.contains(object), "\(tensor.name): its object is not named by its whole content")
            let expectedChunks = (tensor.bytes.count + Self.chunkBytes - 1) / Self.chunkBytes
            let chunks = try store.objects.chunks(of: object)
            if expectedChunks == 1 {
                #expect(chunks == nil, "\(tensor.name) fits one chunk and is stored whole")
                continue
            }
            let listed = try #require(chunks, "\(tensor.name) is not a list")
            #expect(listed.count == expectedChunks)
            for (index, chunk) in listed.enumerated() {
                let slice = Array(
                    tensor.bytes[(index * Self.chunkBytes)..<min(tensor.bytes.count, (index + 1) * Self.chunkBytes)])
                #expect(chunk.digest == xxh3_128(slice) && chunk.length == UInt64(slice.count))
                #expect(try store.objects.content(of: chunk.digest) == slice, "\(tensor.name) chunk \(index)")
            }
            #expect(try store.objects.content(of: object) == tensor.bytes)
        }
        try expectAssembles(store, "base", as: family.basePath)
        #expect(try store.verify(decode: true).isHealthy)
        #expect(try store.verify(decode: false).isHealthy)
    }

    @Test func aFineTuneSharesUnchangedChunksAndDeltasTheOthersAgainstTheBaseChunks() throws {
        let family = try Self.family()
        let store = try store()
        _ = try store.ingest(family.basePath)
        let before = Set(store.objects.allObjects())
        let tuned = try store.ingest(family.tunedPath)
        let added = Set(store.objects.allObjects()).subtracting(before)
        // The embedding: its last chunk and its list; the perturbed weight: four chunks and a list.
        #expect(added.count == 2 + 5, "\(added.count) objects added")
        #expect(tuned.newObjects == added.count)
        #expect(tuned.newObjectBytes == UInt64(Self.chunkBytes + family.tuned[1].bytes.count))
        // Objects are named by content: the tensors' digests name their lists.
        let baseObjects = family.base.map { xxh3_128($0.bytes) }
        let tunedObjects = family.tuned.map { xxh3_128($0.bytes) }
        #expect(Set(try tensorObjects(store, "tuned")) == Set(tunedObjects))
        let baseChunks = try #require(try store.objects.chunks(of: baseObjects[1]))
        let tunedChunks = try #require(try store.objects.chunks(of: tunedObjects[1]))
        for (index, chunk) in tunedChunks.enumerated() {
            #expect(try store.objects.base(of: chunk.digest) == baseChunks[index].digest, "chunk \(index)")
        }
        let embedBase = try #require(try store.objects.chunks(of: baseObjects[0]))
        let embedTuned = try #require(try store.objects.chunks(of: tunedObjects[0]))
        #expect(Array(embedBase.dropLast()) == Array(embedTuned.dropLast()))
        #expect(embedBase.last != embedTuned.last)
        try expectAssembles(store, "tuned", as: family.tunedPath)
        #expect(try store.verify().isHealthy)
        // Without the base, gc keeps what the fine-tune needs: the shared chunks and its deltas' bases.
        try store.remove("base")
        _ = try store.collectGarbage()
        try expectAssembles(store, "tuned", as: family.tunedPath)
        #expect(try store.verify().isHealthy)
        try store.remove("tuned")
        let collected = try store.collectGarbage()
        #expect(store.objects.allObjects().isEmpty, "\(collected.objectsRemoved) removed, some left")
    }

    @Test(arguments: [true, false])
    func aDamagedChunkIsFoundRefusedAndHealed(decode: Bool) throws {
        let family = try Self.family()
        let store = try store()
        _ = try store.ingest(family.basePath)
        _ = try store.ingest(family.tunedPath)
        let list = xxh3_128(family.tuned[1].bytes)
        let victim = try #require(try store.objects.chunks(of: list))[2].digest
        let path = store.objects.path(of: victim)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        bytes[bytes.count / 2] ^= 0x10
        try bytes.write(to: URL(fileURLWithPath: path))
        let found = try store.verify(decode: decode)
        #expect(found.corrupt.contains(victim.description))
        #expect(found.incompleteModels == ["tuned"])
        let output = Samples.temporaryDirectory() + "/tuned.safetensors"
        do {
            _ = try store.assemble("tuned", to: output)
            Issue.record("assembled from a damaged chunk")
        } catch let error as StoreError {
            #expect(error.code == .corruptObject && error.message.contains(victim.description), "\(error)")
        }
        #expect(!FileManager.default.fileExists(atPath: output))
        #expect(try store.ingest(family.tunedPath).status == .repaired)
        #expect(try store.verify(decode: decode).isHealthy)
        try expectAssembles(store, "tuned", as: family.tunedPath)
    }

    /// Lists that lie are refused by name, before anything is allocated or written: a count of one, lengths that
    /// do not add up, a chunk that is itself a list, a chunk of another length than listed, a missing chunk.
    @Test func hostileListsAreRefused() throws {
        let directory = ObjectDirectory(root: Samples.temporaryDirectory())
        func object(_ content: [UInt8]) throws -> (digest: XXH3Digest, chunk: StoredObject.Chunk) {
            let digest = xxh3_128(content)
            let encoded = try content.withUnsafeBytes {
                try StoredObject.encode($0, digest: digest, elementSize: 1, base: nil, level: 1).object
            }
            try directory.write(encoded, digest: digest)
            return (digest, StoredObject.Chunk(digest: digest, length: UInt64(content.count)))
        }
        let a = try object([UInt8](repeating: 1, count: 100))
        let b = try object([UInt8](repeating: 2, count: 50))
        let whole = xxh3_128([UInt8](repeating: 1, count: 100) + [UInt8](repeating: 2, count: 50))
        func list(_ chunks: [StoredObject.Chunk], digest: XXH3Digest) throws -> XXH3Digest {
            try directory.write(
                StoredObject.encodeChunkList(chunks, digest: digest, elementSize: 1), digest: digest, replacing: true)
            return digest
        }
        let good = try list([a.chunk, b.chunk], digest: whole)
        #expect(try directory.content(of: good) == [UInt8](repeating: 1, count: 100) + [UInt8](repeating: 2, count: 50))
        let nested = try list([StoredObject.Chunk(digest: good, length: 150), a.chunk], digest: xxh3_128([9]))
        let cases: [(String, XXH3Digest, String)] = [
            ("one chunk", try list([a.chunk], digest: xxh3_128([1])), "does not hold"),
            ("a list as a chunk", nested, "a list itself"),
            (
                "a chunk of another length",
                try list([StoredObject.Chunk(digest: a.digest, length: 99), b.chunk], digest: xxh3_128([2])),
                "lists chunk"
            ),
            (
                "a missing chunk",
                try list([a.chunk, StoredObject.Chunk(digest: xxh3_128([7]), length: 1)], digest: xxh3_128([3])),
                "missing"
            ),
            ("other content than named", try list([b.chunk, a.chunk], digest: xxh3_128([4])), "make content"),
        ]
        for (name, digest, message) in cases {
            do {
                _ = try directory.content(of: digest)
                Issue.record("\(name): decoded")
            } catch let error as StoreError {
                #expect(error.message.contains(message), "\(name): \(error.message)")
            }
            #expect(throws: StoreError.self, "\(name): checked intact") {
                if name != "other content than named" {
                    try directory.checkIntact(digest)
                } else {
                    try directory.forEachPiece(of: digest) { _ in }
                }
            }
        }
        // A list's header claiming more bytes than its chunks hold is damage its own structure check finds.
        var forged = StoredObject.encodeChunkList([a.chunk, b.chunk], digest: whole, elementSize: 1)
        forged[8] = 0xFF
        #expect(throws: StoreError.self) { try forged.withUnsafeBytes { try StoredObject.validated($0, name: "x") } }
        #expect(throws: StoreError.self) { try forged.withUnsafeBytes { try StoredObject.decode($0, name: "x") } }
    }
}
