import BlockStore
import Foundation
import Glibc
import PBRCore
import TestSupport
import Testing
import XXHash

/// What a client's `assemble --from DIR` does with a directory an attacker prepared (F-3, F-8, F-11): a clear
/// error before anything is written, never a trap, never a write outside `-o`.
@Suite struct HostileRecipeTests {
    /// An `export-blocks` directory of `model` (from `relative`), and the recipe as a JSON object to edit.
    func exported(_ relative: String) throws -> (directory: String, model: String, recipe: [String: Any]) {
        let store = try Store(root: Samples.temporaryDirectory() + "/store")
        let model = try store.ingest(Samples.path(relative)).model
        let directory = Samples.temporaryDirectory() + "/export"
        _ = try store.exportBlocks(model, to: directory)
        let data = try Data(contentsOf: URL(fileURLWithPath: directory + "/\(model).recipe.json"))
        return (directory, model, try JSONSerialization.jsonObject(with: data) as! [String: Any])
    }

    func write(_ recipe: [String: Any], to directory: String, model: String) throws {
        let data = try JSONSerialization.data(withJSONObject: recipe)
        try data.write(to: URL(fileURLWithPath: directory + "/\(model).recipe.json"))
    }

    /// Assembling fails with a `StoreError` and leaves nothing at `-o` or beside it.
    func expectRefused(_ directory: String, _ model: String, _ context: String) throws {
        let parent = Samples.temporaryDirectory() + "/out-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        #expect(throws: StoreError.self, "\(context)") {
            let recipe = try Assembler.recipe(from: directory, model: model)
            _ = try Assembler.assemble(recipe, objects: ObjectDirectory(root: directory), to: parent + "/model")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: parent).isEmpty, "\(context): left files")
    }

    @Test func extentsAndSizesThatOverflowOrLieAreRefusedBeforeWriting() throws {
        let (directory, model, original) = try exported("mlp/mlp-base.h5")
        var files = original["files"] as! [[String: Any]]
        var extents = files[0]["extents"] as! [[String: Any]]
        let cases: [(String, ([String: Any]) -> [String: Any])] = [
            (
                "offset 2^63 + 5",
                {
                    var e = $0
                    e["offset"] = UInt64(1) << 63 + 5
                    return e
                }
            ),
            (
                "offset 2^64 - 1",
                {
                    var e = $0
                    e["offset"] = UInt64.max
                    return e
                }
            ),
            (
                "length 2^64 - 1",
                {
                    var e = $0
                    e["length"] = UInt64.max
                    return e
                }
            ),
        ]
        for (name, edit) in cases {
            var recipe = original
            var changed = extents
            changed[0] = edit(extents[0])
            files[0]["extents"] = changed
            recipe["files"] = files
            try write(recipe, to: directory, model: model)
            try expectRefused(directory, model, name)
        }
        extents.reverse()
        files[0]["extents"] = extents
        var recipe = original
        recipe["files"] = files
        try write(recipe, to: directory, model: model)
        try expectRefused(directory, model, "reversed extents")
        for size: UInt64 in [UInt64.max, 100, 0] {
            var recipe = original
            var sized = original["files"] as! [[String: Any]]
            sized[0]["size"] = size
            recipe["files"] = sized
            try write(recipe, to: directory, model: model)
            try expectRefused(directory, model, "size \(size)")
        }
    }

    @Test func aRecipeThatWouldWriteFarMoreThanItDeclaresWritesNothing() throws {
        let (directory, model, original) = try exported("mlp/mlp-base.safetensors")
        var files = original["files"] as! [[String: Any]]
        let tensors = files[0]["tensors"] as! [String]
        files[0]["tensors"] = Array(repeating: tensors[0], count: 20_000)
        files[0]["size"] = 100
        var recipe = original
        recipe["files"] = files
        try write(recipe, to: directory, model: model)
        try expectRefused(directory, model, "20 000 copies of an object in a 100-byte file")
    }

    @Test func directoryRecipesWithOverflowingOrRepeatedFilesAreRefused() throws {
        let (directory, model, original) = try exported("transformer/tiny-llama-ft-sharded")
        var files = original["files"] as! [[String: Any]]
        files[0]["size"] = UInt64.max - 10
        files[1]["size"] = UInt64(20)
        var recipe = original
        recipe["files"] = files
        try write(recipe, to: directory, model: model)
        try expectRefused(directory, model, "sizes that overflow")
        var repeated = original["files"] as! [[String: Any]]
        repeated.append(repeated[0])
        recipe["files"] = repeated
        try write(recipe, to: directory, model: model)
        try expectRefused(directory, model, "a file named twice")
        try expectRefused(directory, "../\(model)", "a model name with a path")
    }

    /// Recipes of folder trees: no path may climb out of the model's folder, be absolute or empty in a component,
    /// name a file that is also a folder, or put a single-file model in a folder.
    @Test func treePathsThatLeaveTheModelOrContradictThemselvesAreRefused() throws {
        let (directory, model, original) = try exported("transformer/tiny-llama-ft-sharded")
        let originalFiles = original["files"] as! [[String: Any]]
        for path in ["../escape", "a/../../escape", "/tmp/escape", "a//b", "a/./b", "sub/", "a/..", "a\u{0}b"] {
            var files = originalFiles
            files[0]["path"] = path
            var recipe = original
            recipe["files"] = files
            try write(recipe, to: directory, model: model)
            try expectRefused(directory, model, "file path \(path)")
        }
        var clash = originalFiles
        clash[1]["path"] = (clash[0]["path"] as! String) + "/inside"
        var recipe = original
        recipe["files"] = clash
        try write(recipe, to: directory, model: model)
        try expectRefused(directory, model, "a file that is also a folder")
        for folder in ["../up", "/abs", ""] {
            recipe = original
            recipe["directories"] = [folder]
            recipe["schema"] = "pbrepo.recipe/v2"
            try write(recipe, to: directory, model: model)
            try expectRefused(directory, model, "empty folder \(folder)")
        }
        recipe = original
        recipe["schema"] = "pbrepo.recipe/v9"
        try write(recipe, to: directory, model: model)
        try expectRefused(directory, model, "a schema from the future")

        let (single, singleModel, singleRecipe) = try exported("mlp/mlp-base.safetensors")
        var files = singleRecipe["files"] as! [[String: Any]]
        files[0]["path"] = "sub/mlp-base.safetensors"
        recipe = singleRecipe
        recipe["files"] = files
        try write(recipe, to: single, model: singleModel)
        try expectRefused(single, singleModel, "a single-file model in a folder")
    }

    /// F-3 at a client: every flip of an object's length field, in an export directory, is a clean error.
    @Test func objectsWithLyingLengthsAreRefusedWithoutAllocatingThem() throws {
        let (directory, model, _) = try exported("mlp/mlp-base.safetensors")
        let objects = ObjectDirectory(root: directory)
        for digest in objects.allObjects() {
            let path = objects.path(of: digest)
            let pristine = try FileSystem.read(path)
            for position in 8..<16 {
                for mask: UInt8 in [0x01, 0x40, 0xFF] {
                    var damaged = pristine
                    damaged[position] ^= mask
                    try Data(damaged).write(to: URL(fileURLWithPath: path))
                    #expect(throws: StoreError.self, "\(digest) byte \(position)") {
                        try damaged.withUnsafeBytes { try StoredObject.decode($0, name: "\(digest)") }
                    }
                    try expectRefused(directory, model, "\(digest) byte \(position) ^ \(mask)")
                }
            }
            try Data(pristine).write(to: URL(fileURLWithPath: path))
        }
    }

    /// F-8: a symlink planted where earlier builds put their staging directory changes nothing.
    @Test func aPlantedStagingSymlinkIsNotFollowed() throws {
        let (directory, model, _) = try exported("transformer/tiny-llama-ft-sharded")
        let shared = Samples.temporaryDirectory() + "/shared"
        let victim = Samples.temporaryDirectory() + "/victim"
        try FileManager.default.createDirectory(atPath: shared, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: victim, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(
            atPath: shared + "/.pbrepo-tmp-\(getpid())-model", withDestinationPath: victim)
        let recipe = try Assembler.recipe(from: directory, model: model)
        _ = try Assembler.assemble(recipe, objects: ObjectDirectory(root: directory), to: shared + "/model")
        #expect(try FileManager.default.contentsOfDirectory(atPath: victim).isEmpty)
        let attributes = try FileManager.default.attributesOfItem(atPath: shared + "/model")
        #expect(attributes[.type] as? FileAttributeType == .typeDirectory)
        #expect(try FileManager.default.contentsOfDirectory(atPath: shared + "/model").count == recipe.files.count)
    }
}
