import Foundation
import PBRCore
import TensorFiles
import TestSupport
import Testing

/// Whatever the bytes, reading a safetensors checkpoint either succeeds or throws `TensorFileError`: it never traps,
/// hangs or hands out a view past the end of the file. Mutations of real samples: bit flips, truncations, lying
/// lengths. (HDF5 files go through libhdf5, which can crash on corrupt input; the CLI runs it in a child process, and
/// `HDF5MutationTests` in PBRepoCLITests checks that path.)
@Suite struct MutationTests {
    @Test(arguments: [
        "lora/digits-5-9/adapter_model.safetensors", "transformer/tiny-llama-tied-bf16/model.safetensors",
    ])
    func mutatedSamplesNeverCrash(relative: String) throws {
        let original = try #require(FileManager.default.contents(atPath: Samples.path(relative)))
        let directory = Samples.temporaryDirectory()
        var generator = SplitMix64(seed: 42)
        var refused = 0
        for round in 0..<300 {
            let bytes = Samples.mutate(original, round: round, using: &generator)
            let path = directory + "/mutant\(round).safetensors"
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            do {
                _ = try Inspection.run(path: path)
            } catch is TensorFileError {
                refused += 1
            }
        }
        #expect(refused > 0)
    }
}
