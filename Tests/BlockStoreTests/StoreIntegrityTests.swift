import BlockStore
import Foundation
import GRDB
import PBManifest
import PBRCore
import TestSupport
import Testing
import XXHash

/// Damage to objects and to the index, as a failing disk or a careless operator would cause it: nothing crashes,
/// nothing damaged is reported healthy, and what has a source is healed by ingesting it again or by `repair()`.
@Suite(.serialized) struct StoreIntegrityTests {
    static let base = "mlp/mlp-base.safetensors"
    static let fineTune = "mlp/mlp-ft-freeze1.safetensors"

    /// A store with a base and a fine-tune (its objects use every codec: stored, zstd, planes, deltas, and with
    /// 4 KiB chunks lists of chunks too).
    func familyStore(chunkBytes: Int? = nil) throws -> Store {
        let store = try Store(root: Samples.temporaryDirectory() + "/store", chunkBytes: chunkBytes)
        _ = try store.ingest(Samples.path(Self.base))
        _ = try store.ingest(Samples.path(Self.fineTune))
        return store
    }

    func header(_ store: Store, _ digest: XXH3Digest) throws -> StoredObject {
        try store.objects.withObject(digest) { try StoredObject.header(of: $0, name: "\(digest)") }
    }

    /// Both models assemble to their source's bytes.
    func expectBothRebuild(_ store: Store, _ context: String) throws {
        for (model, relative) in [("mlp-base", Self.base), ("mlp-ft-freeze1", Self.fineTune)] {
            let output = Samples.temporaryDirectory() + "/out-\(UInt32.random(in: 0...UInt32.max))"
            _ = try store.assemble(model, to: output)
            #expect(
                FileManager.default.contentsEqual(atPath: output, andPath: Samples.path(relative)),
                "\(context): \(model)")
            try? FileManager.default.removeItem(atPath: output)
        }
    }

    /// Damages each object of one codec every way a disk can, one damage at a time: every header byte, body bytes,
    /// truncations, an appended byte, deletion.
    static func damages(length: Int, seed: UInt64) -> [(name: String, apply: ([UInt8]) -> [UInt8]?)] {
        var cases: [(String, ([UInt8]) -> [UInt8]?)] = []
        for position in 0..<min(length, StoredObject.headerLength) {
            for mask: UInt8 in [0x01, 0x80] {
                cases.append(
                    (
                        "flip \(mask) at \(position)",
                        { bytes in
                            var damaged = bytes
                            damaged[position] ^= mask
                            return damaged
                        }
                    ))
            }
        }
        var generator = SplitMix64(seed: seed)
        for _ in 0..<8 where length > StoredObject.headerLength {
            let position =
                StoredObject.headerLength + Int(generator.next() % UInt64(length - StoredObject.headerLength))
            cases.append(
                (
                    "body flip at \(position)",
                    { bytes in
                        var damaged = bytes
                        damaged[position] ^= 0x20
                        return damaged
                    }
                ))
        }
        for cut in Set([0, 20, 47, 48, 63, 64, length - 1]) where cut >= 0 && cut < length {
            cases.append(("truncated to \(cut)", { Array($0.prefix(cut)) }))
        }
        cases.append(("one byte appended", { $0 + [0] }))
        cases.append(("deleted", { _ in nil }))
        return cases
    }

    @Test(arguments: ObjectCodec.allCases) func everyDamageToAnObjectIsCaughtAndReingestingHealsIt(codec: ObjectCodec)
        throws
    {
        let store = try familyStore(chunkBytes: codec == .chunked ? 4096 : nil)
        let candidates = try store.objects.allObjects().filter { try header(store, $0).codec == codec }
        let target = try #require(
            candidates.max { (store.objects.size(of: $0) ?? 0) < (store.objects.size(of: $1) ?? 0) },
            "no \(codec) object")
        let path = store.objects.path(of: target)
        let pristine = try FileSystem.read(path)
        // The model that owns the object (a delta's base belongs to the base model), which re-ingesting heals.
        let owner =
            try store.recipe(of: "mlp-base").objects.contains(target.description) ? Self.base : Self.fineTune
        var cases = 0
        for damage in Self.damages(length: pristine.count, seed: UInt64(codec.rawValue)) {
            if let damaged = damage.apply(pristine) {
                try Data(damaged).write(to: URL(fileURLWithPath: path))
            } else {
                unlink(path)
            }
            let found = try store.verify()
            #expect(!found.isHealthy, "\(codec) \(damage.name): reported healthy")
            #expect(!found.incompleteModels.isEmpty, "\(codec) \(damage.name): no model incomplete")
            let output = Samples.temporaryDirectory() + "/damaged-\(cases)"
            // Assembling either fails with nothing written, or (damage that only the file checksum sees, as in the
            // checksum field itself) writes the right bytes: never wrong ones.
            for model in found.incompleteModels {
                do {
                    _ = try store.assemble(model, to: output)
                    let source = Samples.path(model == "mlp-base" ? Self.base : Self.fineTune)
                    #expect(
                        FileManager.default.contentsEqual(atPath: output, andPath: source),
                        "\(codec) \(damage.name): \(model) assembled to wrong bytes")
                    try FileManager.default.removeItem(atPath: output)
                } catch {
                    #expect(error is StoreError, "\(codec) \(damage.name): \(error)")
                    #expect(!FileManager.default.fileExists(atPath: output), "\(codec) \(damage.name): partial output")
                }
            }
            let healed = try store.ingest(Samples.path(owner))
            #expect(healed.status == .repaired, "\(codec) \(damage.name): re-ingest said \(healed.status)")
            #expect(try store.verify().isHealthy, "\(codec) \(damage.name): not healed")
            try expectBothRebuild(store, "\(codec) \(damage.name)")
            cases += 1
        }
        #expect(cases >= 100 || pristine.count < StoredObject.headerLength)
    }

    @Test func repairHealsEveryModelWhoseSourceIsStillThere() throws {
        let store = try familyStore(chunkBytes: 4096)
        // Damage one object of each codec at once, and delete one more.
        var damaged = 0
        for codec in ObjectCodec.allCases {
            guard let digest = try store.objects.allObjects().first(where: { try header(store, $0).codec == codec })
            else { continue }
            let path = store.objects.path(of: digest)
            var bytes = try FileSystem.read(path)
            bytes[bytes.count / 2] ^= 0xFF
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            damaged += 1
        }
        #expect(damaged == ObjectCodec.allCases.count)
        #expect(try !store.verify().isHealthy)
        let result = try store.repair()
        #expect(result.unrepairable.isEmpty, "\(result.unrepairable)")
        #expect(Set(result.repaired) == ["mlp-base", "mlp-ft-freeze1"])
        #expect(try store.verify().isHealthy)
        try expectBothRebuild(store, "after repair")
    }

    @Test func repairSaysWhichModelsHaveNoSourceLeft() throws {
        let root = Samples.temporaryDirectory() + "/store"
        let copy = Samples.temporaryDirectory() + "/mlp-base.safetensors"
        try FileManager.default.copyItem(atPath: Samples.path(Self.base), toPath: copy)
        let store = try Store(root: root)
        _ = try store.ingest(copy)
        try FileManager.default.removeItem(atPath: copy)
        let victim = try #require(store.objects.allObjects().first)
        unlink(store.objects.path(of: victim))
        let result = try store.repair()
        #expect(result.repaired.isEmpty)
        #expect(result.unrepairable["mlp-base"]?.contains(copy) == true, "\(result.unrepairable)")
        #expect(try !store.verify().isHealthy)
    }

    /// F-4 as reported: a truncated object, then a model that shares it ingested under a new name.
    @Test func ingestingAModelThatSharesADamagedObjectHealsIt() throws {
        let store = try Store(root: Samples.temporaryDirectory() + "/store")
        _ = try store.ingest(Samples.path(Self.base))
        let largest = try #require(
            store.objects.allObjects().max { (store.objects.size(of: $0) ?? 0) < (store.objects.size(of: $1) ?? 0) })
        truncate(store.objects.path(of: largest), 100)
        let again = try store.ingest(Samples.path(Self.base), options: IngestOptions(name: "again"))
        #expect(again.status == .added)
        #expect(again.repairedObjects == 1)
        #expect(try store.verify().isHealthy)
        let output = Samples.temporaryDirectory() + "/again.safetensors"
        _ = try store.assemble("again", to: output)
        #expect(FileManager.default.contentsEqual(atPath: output, andPath: Samples.path(Self.base)))
    }

    /// F-2 as reported: a fine-tune stored on its own, its objects lost, the base ingested and the fine-tune again
    /// (now as deltas against the base), then the base removed and collected. Before, the index kept the old
    /// "self-contained" rows and gc deleted the base the new delta files need.
    @Test func objectsRewrittenAsDeltasKeepTheirBaseThroughRemoveAndCollect() throws {
        let store = try Store(root: Samples.temporaryDirectory() + "/store")
        _ = try store.ingest(Samples.path(Self.fineTune), options: IngestOptions(family: "solo"))
        for digest in store.objects.allObjects() { unlink(store.objects.path(of: digest)) }
        _ = try store.ingest(Samples.path(Self.base))
        _ = try store.ingest(Samples.path(Self.fineTune), options: IngestOptions(name: "ft1-again"))
        let deltas = try store.objects.allObjects().filter { try header(store, $0).base != nil }
        #expect(!deltas.isEmpty, "the fine-tune was not rewritten as deltas")
        try store.remove("mlp-base")
        _ = try store.collectGarbage()
        let found = try store.verify()
        #expect(found.isHealthy, "\(found)")
        for model in ["mlp-ft-freeze1", "ft1-again"] {
            let output = Samples.temporaryDirectory() + "/\(model).safetensors"
            _ = try store.assemble(model, to: output)
            #expect(FileManager.default.contentsEqual(atPath: output, andPath: Samples.path(Self.fineTune)), "\(model)")
        }
    }

    /// F-14: every commit is checkpointed into index.sqlite3 itself, even while another process keeps the database
    /// open (so SQLite's checkpoint at the last close does not happen): a copy of that one file — a backup, or what
    /// is left when the -wal file is lost — holds every acknowledged ingest and removal.
    @Test func indexFileAloneHoldsEveryCommitWhileAnotherConnectionIsOpen() throws {
        let root = Samples.temporaryDirectory() + "/store"
        let store = try Store(root: root)
        let bystander = try DatabaseQueue(path: root + "/index.sqlite3")
        _ = try bystander.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM model") }
        func copyOfIndexAlone() throws -> Store {
            let copy = Samples.temporaryDirectory() + "/copy-\(UInt32.random(in: 0...UInt32.max))"
            try FileManager.default.createDirectory(atPath: copy, withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: root + "/index.sqlite3", toPath: copy + "/index.sqlite3")
            try FileManager.default.createSymbolicLink(
                atPath: copy + "/objects", withDestinationPath: root + "/objects")
            return try Store(root: copy, create: false)
        }
        _ = try store.ingest(Samples.path(Self.base))
        _ = try store.ingest(Samples.path(Self.fineTune))
        #expect(FileManager.default.fileExists(atPath: root + "/index.sqlite3-wal"), "the log was closed: no test")
        #expect(try copyOfIndexAlone().list().map(\.name) == ["mlp-base", "mlp-ft-freeze1"])
        try store.remove("mlp-ft-freeze1")
        _ = try store.collectGarbage()
        let afterRemoval = try copyOfIndexAlone()
        #expect(try afterRemoval.list().map(\.name) == ["mlp-base"])
        #expect(try afterRemoval.verify().isHealthy)
        try bystander.close()
    }
}

/// One flipped byte at a time in `index.sqlite3` (two places in every page): either `verify` reports a problem, or
/// every model still assembles to its source's bytes and the exported manifest is unchanged; and a command that
/// writes refuses an index SQLite itself finds damaged.
@Suite(.serialized) struct IndexCorruptionTests {
    static let models = [
        "mlp/mlp-base.safetensors", "mlp/mlp-ft-freeze1.safetensors", "mlp/mlp-ft-freeze2.h5",
        "transformer/tiny-llama-ft-sharded", "hdf5/dtypes-and-layouts.h5",
    ]

    /// SQLite's own verdict, through a connection of its own.
    func sqliteSaysIntact(_ path: String) -> Bool {
        guard
            let queue = try? DatabaseQueue(
                path: path,
                configuration: {
                    var c = Configuration()
                    c.readonly = true
                    return c
                }()),
            let result = try? queue.read({ try String.fetchAll($0, sql: "PRAGMA integrity_check") })
        else { return false }
        return result == ["ok"]
    }

    @Test func noFlipInTheIndexLeavesADamagedModelReportedHealthy() throws {
        let pristineRoot = Samples.temporaryDirectory() + "/pristine"
        var names: [String] = []
        let manifest: Manifest
        do {
            let store = try Store(root: pristineRoot)
            for model in Self.models { names.append(try store.ingest(Samples.path(model)).model) }
            manifest = try store.manifest()
        }
        let pristine = try FileSystem.read(pristineRoot + "/index.sqlite3")
        #expect(pristine.count % 4096 == 0 && pristine.count >= 8 * 4096)
        var reportedDamaged = 0
        var harmless = 0
        var refusedWrites = 0
        for page in 0..<(pristine.count / 4096) {
            for offset in [40, 1000, 3000] {
                let position = page * 4096 + offset
                let context = "byte \(position)"
                // Each case on its own copy: a case may legitimately change the store (gc is refused or runs).
                let root = Samples.temporaryDirectory() + "/flip-\(position)"
                try FileManager.default.copyItem(atPath: pristineRoot, toPath: root)
                defer { try? FileManager.default.removeItem(atPath: root) }
                var damaged = pristine
                damaged[position] ^= 0x04
                try Data(damaged).write(to: URL(fileURLWithPath: root + "/index.sqlite3"))
                let intact = sqliteSaysIntact(root + "/index.sqlite3")
                guard let store = try? Store(root: root, create: false) else {
                    reportedDamaged += 1  // refused at open
                    continue
                }
                if !intact {
                    #expect(throws: StoreError.self, "\(context): gc wrote into a damaged index") {
                        try store.collectGarbage()
                    }
                    refusedWrites += 1
                }
                guard let found = try? store.verify() else {
                    reportedDamaged += 1
                    continue
                }
                if !found.isHealthy {
                    reportedDamaged += 1
                    continue
                }
                #expect(intact, "\(context): verify ok but SQLite's integrity check fails")
                // Reported healthy: then it must be.
                for (model, relative) in zip(names, Self.models) {
                    let output = root + "-\(model)"
                    #expect(throws: Never.self, "\(context): \(model) does not assemble") {
                        _ = try store.assemble(model, to: output)
                    }
                    let source = Samples.path(relative)
                    var isDirectory: ObjCBool = false
                    _ = FileManager.default.fileExists(atPath: source, isDirectory: &isDirectory)
                    let files =
                        isDirectory.boolValue ? try FileManager.default.contentsOfDirectory(atPath: source) : [""]
                    for file in files {
                        let (a, b) = file.isEmpty ? (output, source) : (output + "/" + file, source + "/" + file)
                        #expect(
                            FileManager.default.contentsEqual(atPath: a, andPath: b), "\(context): \(model) \(file)")
                    }
                    try? FileManager.default.removeItem(atPath: output)
                }
                let now = try? store.manifest()
                #expect(now == manifest, "\(context): verify ok but the manifest changed")
                harmless += 1
            }
        }
        // Both outcomes occur: the matrix reaches data as well as free space.
        #expect(reportedDamaged > 0 && harmless > 0, "\(reportedDamaged) damaged, \(harmless) harmless")
        #expect(refusedWrites > 0, "no flip damaged the index's structure")
    }
}
