package import BlockStore
import Foundation
import Glibc
import PBRCore
import TensorFiles
package import XXHash

/// A recipe from an untrusted `export-blocks` directory, assembled against a fixed directory of objects (a base
/// tensor, a delta against it, a safetensors header, a small file) in a sandbox. Accepted means it assembled; either
/// way nothing may be left in the sandbox but the objects and the one output, and the objects must be unchanged.
final class RecipeHarness: @unchecked Sendable {
    /// One sandbox per process, made on first use and removed at exit.
    static let shared = RecipeHarness()

    let sandbox: String
    let objects: ObjectDirectory
    let fixture: RecipeFixture
    private var objectListing: [String] = []

    private init() {
        var template = Array((NSTemporaryDirectory() + "/pbrepo-fuzz-recipe.XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else { fatalError("cannot create a sandbox for the recipe target") }
        sandbox = String(cString: made)
        objects = ObjectDirectory(root: sandbox)
        do {
            fixture = try RecipeFixture.write(to: objects)
        } catch {
            fatalError("cannot write the recipe target's objects: \(error)")
        }
        objectListing = Self.listing(sandbox + "/objects")
        RecipeHarness.sandboxToRemove = sandbox
        atexit { RecipeHarness.removeSandbox() }
    }

    nonisolated(unsafe) private static var sandboxToRemove: String?

    private static func removeSandbox() {
        if let path = sandboxToRemove { try? FileManager.default.removeItem(atPath: path) }
    }

    func run(_ input: UnsafeRawBufferPointer) { _ = outcome(input) }

    /// One input at a time: every run uses the same output path in the sandbox (tests call this from many threads).
    private let oneAtATime = NSLock()

    func outcome(_ input: UnsafeRawBufferPointer) -> FuzzOutcome {
        oneAtATime.withLock { assembleInSandbox(input) }
    }

    private func assembleInSandbox(_ input: UnsafeRawBufferPointer) -> FuzzOutcome {
        let output = sandbox + "/out"
        let result: FuzzOutcome
        do {
            let recipe = try Assembler.recipe(
                decoding: Array(input), path: "fuzz-input.recipe.json", model: RecipeFixture.model)
            let made = try Assembler.assemble(recipe, objects: objects, to: output)
            expect(made.files == recipe.files.count, "assembled \(made.files) files of \(recipe.files.count)")
            result = .accepted
        } catch {
            result = .refused("\(error)")
        }
        let left = (try? FileSystem.listDirectory(sandbox)) ?? []
        expect(
            left.allSatisfy { $0 == "objects" || $0 == "out" },
            "assemble left \(left.filter { $0 != "objects" && $0 != "out" }) beside its output")
        expect(result == .accepted || !left.contains("out"), "a refused recipe left an output")
        try? FileManager.default.removeItem(atPath: output)
        expect(Self.listing(sandbox + "/objects") == objectListing, "assemble changed the object directory")
        return result
    }

    /// Every file under a directory with its size.
    private static func listing(_ root: String) -> [String] {
        var entries: [String] = []
        FileSystem.forEachEntry(under: root) { path, status in
            if (status.st_mode & S_IFMT) != S_IFDIR { entries.append("\(path) \(status.st_size)") }
        }
        return entries
    }
}

/// The objects the recipe target assembles from, and recipes of the files they make: the seed corpus, and what the
/// regression tests check the assembler against (the files' bytes are put together here, not by the assembler).
package struct RecipeFixture: Sendable {
    package static let model = "m"

    /// A safetensors file with two F32 tensors (the second a fine-tune of the first, stored as a delta).
    package var safetensorsFile: [UInt8]
    /// A file made of a skeleton and one tensor spliced in, as HDF5 files are.
    package var splicedFile: [UInt8]
    /// A small file stored whole.
    package var configFile: [UInt8]
    package var safetensorsParts: (header: XXH3Digest, tensors: [XXH3Digest])
    package var splice: (skeleton: XXH3Digest, offset: UInt64, tensor: XXH3Digest)
    package var config: XXH3Digest
    /// Every object file's bytes.
    package var objectFiles: [(digest: XXH3Digest, bytes: [UInt8])]

    package static func make() throws -> RecipeFixture {
        let base: [UInt8] = (0..<256).flatMap { index -> [UInt8] in
            let bits = Float(Double(index) * 0.01 - 1.0).bitPattern
            return (0..<4).map { UInt8(truncatingIfNeeded: bits >> (8 * UInt32($0))) }
        }
        var tuned = base
        for index in stride(from: 0, to: tuned.count, by: 4) { tuned[index] ^= 0x03 }
        let header = try SafetensorsHeader.encode(
            tensors: [("a", .F32, [256]), ("b", .F32, [256])], metadata: [("format", "pt")])
        let headerObject = header.prefixBytes
        let skeleton: [UInt8] =
            Array("HDF5-like skeleton, the tensor goes between here>".utf8) + Array("<and here".utf8)
        let offset = UInt64(skeleton.count - 9)
        let config = Array("{\"architectures\": [\"Fuzz\"]}\n".utf8)

        var files: [(XXH3Digest, [UInt8])] = []
        func object(_ content: [UInt8], elementSize: Int, base: [UInt8]? = nil) throws -> XXH3Digest {
            let digest = xxh3_128(content)
            let bytes = try content.withUnsafeBytes { content in
                try (base ?? []).withUnsafeBytes { baseBytes in
                    try StoredObject.encode(
                        content, digest: digest, elementSize: elementSize,
                        base: base.map { (xxh3_128($0), baseBytes) }, level: 3
                    ).object
                }
            }
            if !files.contains(where: { $0.0 == digest }) { files.append((digest, bytes)) }
            return digest
        }
        let headerDigest = try object(headerObject, elementSize: 1)
        let baseDigest = try object(base, elementSize: 4)
        let tunedDigest = try object(tuned, elementSize: 4, base: base)
        let skeletonDigest = try object(skeleton, elementSize: 1)
        let configDigest = try object(config, elementSize: 1)
        let order = header.tensorsInDataOrder.map { $0.name == "a" ? baseDigest : tunedDigest }
        let data = header.tensorsInDataOrder.flatMap { $0.name == "a" ? base : tuned }
        var spliced = skeleton
        spliced.insert(contentsOf: base, at: Int(offset))
        return RecipeFixture(
            safetensorsFile: headerObject + data, splicedFile: spliced, configFile: config,
            safetensorsParts: (headerDigest, order), splice: (skeletonDigest, offset, baseDigest),
            config: configDigest, objectFiles: files)
    }

    static func write(to objects: ObjectDirectory) throws -> RecipeFixture {
        let fixture = try make()
        for file in fixture.objectFiles { try objects.write(file.bytes, digest: file.digest, syncDirectory: false) }
        return fixture
    }

    /// A directory recipe of all three files, and a file recipe of each.
    package func recipes() -> [(name: String, recipe: Recipe)] {
        func entry(_ path: String, _ bytes: [UInt8], _ content: Recipe.File.Content) -> Recipe.File {
            Recipe.File(
                path: path, size: UInt64(bytes.count), sha256: String(repeating: "0", count: 64),
                xxh3: xxh3_128(bytes).description, content: content)
        }
        let files = [
            entry(
                "model.safetensors", safetensorsFile,
                .safetensors(
                    header: safetensorsParts.header.description,
                    tensors: safetensorsParts.tensors.map(\.description))),
            entry(
                "weights.h5", splicedFile,
                .hdf5(
                    skeleton: splice.skeleton.description,
                    extents: [.init(offset: splice.offset, length: 1024, object: splice.tensor.description)])),
            entry("config.json", configFile, .verbatim(object: config.description)),
        ]
        var recipes = [
            ("directory", Recipe(schema: Recipe.schemaID, model: Self.model, layout: .directory, files: files))
        ]
        for file in files {
            recipes.append(
                (file.path, Recipe(schema: Recipe.schemaID, model: Self.model, layout: .file, files: [file])))
        }
        return recipes
    }
}
