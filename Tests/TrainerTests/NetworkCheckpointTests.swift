import NeuralKit
import PBRCore
import TensorFiles
import TestSupport
import Testing

@testable import Trainer

@Suite struct CheckpointTests {
    @Test func savedNetworksLoadBackExactlyAndAreOrdinarySafetensors() throws {
        var generator = SplitMix64(seed: 5)
        let network = MLP(sizes: [4, 6, 3], name: "actor", using: &generator)
        let path = Samples.temporaryDirectory() + "/policy.safetensors"
        try NetworkCheckpoint.save(network.parameters, metadata: [("variant", "test")], to: path)
        let inspection = try Inspection.run(path: path)
        #expect(inspection.tensors.count == 4)
        let other = MLP(sizes: [4, 6, 3], name: "actor", using: &generator)
        #expect(other.parameters[0].value != network.parameters[0].value)
        let metadata = try NetworkCheckpoint.load(other.parameters, from: path)
        #expect(metadata.first { $0.key == "variant" }?.value == "test")
        #expect(zip(other.parameters, network.parameters).allSatisfy { $0.value == $1.value })
        let x = Matrix(rows: 2, columns: 4, values: (0..<8).map { Float($0) / 8 })
        #expect(other(x) == network(x))
        // A network of another shape is refused, naming the tensor.
        let wrong = MLP(sizes: [4, 5, 3], name: "actor", using: &generator)
        #expect(throws: TensorFileError.self) { try NetworkCheckpoint.load(wrong.parameters, from: path) }
    }

    /// F-28: a policy with a NaN or infinite weight is refused naming the tensor (it used to plan nothing, silently).
    @Test(arguments: [Float.nan, .infinity])
    func nonFiniteWeightsAreRefused(bad: Float) throws {
        var generator = SplitMix64(seed: 6)
        let network = MLP(sizes: [4, 6, 3], name: "actor", using: &generator)
        network.parameters[2].value.values[5] = bad
        let path = Samples.temporaryDirectory() + "/policy.safetensors"
        try NetworkCheckpoint.save(network.parameters, to: path)
        let error = #expect(throws: TrainingError.self) { try NetworkCheckpoint.load(network.parameters, from: path) }
        #expect(error?.code == .invalidPolicy)
        #expect(error?.description.contains(network.parameters[2].name) == true, "\(String(describing: error))")
    }
}
