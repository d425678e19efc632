import BlockStore
import Foundation
import FuzzHarnesses
import PBRCore
import TensorFiles
import TestSupport
import Testing
import XXHash

/// Every committed fuzz input, run through its target in an ordinary build: a corpus input or regression input that
/// crashes, traps or breaks a target's expectation fails the test run (scripts/fuzz.sh runs the same targets under
/// libFuzzer and AddressSanitizer).
@Suite struct FuzzCorpusTests {
    static let root = Samples.root + "/Tests/FuzzRegressionTests"

    static func inputs(_ directory: String) -> [(name: String, bytes: [UInt8])] {
        let names = (try? FileSystem.listDirectory(directory)) ?? []
        return names.compactMap { name in (try? FileSystem.read(directory + "/" + name)).map { (name, $0) } }
    }

    @Test(arguments: FuzzTarget.allCases)
    func corpusRunsCleanAndReachesBothOutcomes(target: FuzzTarget) {
        let corpus = Self.inputs(Self.root + "/Corpus/" + target.rawValue)
        #expect(corpus.count >= 3, "the committed corpus of \(target.rawValue) is missing")
        let outcomes = corpus.map { target.outcome($0.bytes) }
        // A corpus that only ever fails the first check would fuzz nothing behind it.
        #expect(outcomes.contains(.accepted), "no input of the \(target.rawValue) corpus is accepted")
        #expect(outcomes.contains { $0 != .accepted }, "no input of the \(target.rawValue) corpus is refused")
    }

    /// Each regression input is named for what its target must do with it: `accepted-…` or `refused-…`.
    @Test(arguments: FuzzTarget.allCases)
    func regressionInputsGiveTheirOutcome(target: FuzzTarget) {
        let regressions = Self.inputs(Self.root + "/Regressions/" + target.rawValue)
        #expect(!regressions.isEmpty)
        for input in regressions {
            let outcome = target.outcome(input.bytes)
            if input.name.hasPrefix("accepted-") {
                #expect(outcome == .accepted, "\(target.rawValue)/\(input.name): \(outcome)")
            } else {
                #expect(input.name.hasPrefix("refused-"), "\(input.name) says neither accepted- nor refused-")
                #expect(outcome != .accepted, "\(target.rawValue)/\(input.name) was accepted")
            }
        }
    }

    /// The committed seeds are what `pbrepo-fuzz seeds` writes today (the recipe seeds name the fixture's objects by
    /// digest, so a change to the encoder must regenerate them).
    @Test(arguments: FuzzTarget.allCases)
    func committedSeedsAreCurrent(target: FuzzTarget) throws {
        let committed = Dictionary(
            Self.inputs(Self.root + "/Corpus/" + target.rawValue).map { ($0.name, $0.bytes) },
            uniquingKeysWith: { a, _ in a })
        for seed in try target.seeds() {
            #expect(committed[seed.name] == seed.bytes, "\(target.rawValue)/\(seed.name) differs from its generator")
        }
    }

    /// The recipe target's fixture, checked against what the files must be: the assembler rebuilds each file to the
    /// bytes the fixture put together by hand, and the safetensors file reads back with the tensors it was made of.
    @Test func recipeFixtureAssemblesToTheFilesItDescribes() throws {
        let fixture = try RecipeFixture.make()
        try Samples.withTemporaryDirectory { directory in
            let objects = ObjectDirectory(root: directory + "/store")
            for file in fixture.objectFiles { try objects.write(file.bytes, digest: file.digest) }
            let expected = [
                "model.safetensors": fixture.safetensorsFile, "weights.h5": fixture.splicedFile,
                "config.json": fixture.configFile,
            ]
            for (name, recipe) in fixture.recipes() {
                let output = directory + "/out-" + name
                _ = try Assembler.assemble(recipe, objects: objects, to: output)
                if recipe.layout == .directory {
                    for (file, bytes) in expected { #expect(try FileSystem.read(output + "/" + file) == bytes) }
                } else {
                    #expect(try FileSystem.read(output) == expected[name])
                }
            }
            let model = directory + "/out-model.safetensors"
            let header = try SafetensorsFile(path: model).header
            #expect(header.tensors.map(\.name).sorted() == ["a", "b"])
            #expect(header.dataLength == 2048)
        }
    }
}
