import NeuralKit
import TensorFiles

/// The state a resumed run needs beyond the networks (`training-state.safetensors`).
extension MAASNTrainer {
    /// Adam moments, replay buffer and predictor state, as safetensors tensors (F32, the predictor's F64).
    func stateTensors() -> [(name: String, dtype: DType, shape: [UInt64], bytes: [UInt8])] {
        func f32(_ name: String, _ rows: Int, _ columns: Int, _ values: [Float]) -> (
            name: String, dtype: DType, shape: [UInt64], bytes: [UInt8]
        ) {
            (name, .F32, [UInt64(rows), UInt64(columns)], values.withUnsafeBytes { Array($0) })
        }
        var tensors: [(name: String, dtype: DType, shape: [UInt64], bytes: [UInt8])] = []
        for p in onlineParameters {
            tensors.append(f32("adam.m." + p.name, p.value.rows, p.value.columns, p.adamMoments.first.values))
            tensors.append(f32("adam.v." + p.name, p.value.rows, p.value.columns, p.adamMoments.second.values))
        }
        for (name, rows, columns, values) in predictor?.savedState() ?? [] {
            tensors.append(
                ("predictor." + name, .F64, [UInt64(rows), UInt64(columns)], values.withUnsafeBytes { Array($0) }))
        }
        let items = replay.items
        let stateSize = nodes * observationSize
        let reservoir = predictor?.stateSize ?? 0
        tensors.append(f32("replay.state", items.count, stateSize, items.flatMap(\.state)))
        tensors.append(f32("replay.actions", items.count, nodes * nodes, items.flatMap(\.actions)))
        tensors.append(f32("replay.reward", items.count, 1, items.map(\.reward)))
        tensors.append(f32("replay.next_state", items.count, stateSize, items.flatMap(\.nextState)))
        tensors.append(f32("replay.done", items.count, 1, items.map { $0.done ? 1 : 0 }))
        tensors.append(f32("replay.discount", items.count, 1, items.map(\.discount)))
        tensors.append(f32("replay.allowed", items.count, nodes, items.flatMap(\.allowed)))
        tensors.append(f32("replay.next_allowed", items.count, nodes, items.flatMap(\.nextAllowed)))
        tensors.append(f32("replay.synthetic", items.count, 1, items.map { $0.isSynthetic ? 1 : 0 }))
        tensors.append(
            f32(
                "replay.reservoir", items.count, reservoir,
                items.flatMap { $0.previousReservoir ?? [Float](repeating: 0, count: reservoir) }))
        tensors.append(f32("replay.next", 1, 1, [Float(replay.next)]))
        return tensors
    }

    /// The inverse of `stateTensors`.
    func restoreState(from file: SafetensorsFile, optimizerSteps: [Int]) throws {
        var byName: [String: SafetensorsTensor] = [:]
        for tensor in file.header.tensors { byName[tensor.name] = tensor }
        func floats(_ name: String) throws -> [Float] {
            guard let tensor = byName[name], tensor.dtype == .F32 else {
                throw TrainingError(.invalidPolicy, "\(file.path) lacks \(name)")
            }
            let bytes = file.bytes(of: tensor)
            return (0..<(bytes.count / 4)).map { bytes.loadUnaligned(fromByteOffset: 4 * $0, as: Float.self) }
        }
        for p in onlineParameters {
            let (first, second) = (try floats("adam.m." + p.name), try floats("adam.v." + p.name))
            guard first.count == p.value.values.count, second.count == first.count else {
                throw TrainingError(.invalidPolicy, "\(file.path): moments of \(p.name) have the wrong size")
            }
            p.adamMoments = (
                Matrix(rows: p.value.rows, columns: p.value.columns, values: first),
                Matrix(rows: p.value.rows, columns: p.value.columns, values: second)
            )
        }
        if let predictor {
            var doubles: [String: [Double]] = [:]
            for tensor in file.header.tensors where tensor.name.hasPrefix("predictor.") && tensor.dtype == .F64 {
                let bytes = file.bytes(of: tensor)
                doubles[String(tensor.name.dropFirst("predictor.".count))] =
                    (0..<(bytes.count / 8)).map { bytes.loadUnaligned(fromByteOffset: 8 * $0, as: Double.self) }
            }
            try predictor.restore(doubles)
        }
        let steps = optimizerSteps
        let optimizers = learner.optimizers
        guard steps.count == optimizers.count + (predictor?.optimizerSteps == nil ? 0 : 1) else {
            throw TrainingError(.invalidPolicy, "\(file.path): optimizer counts do not fit this learner")
        }
        for (optimizer, count) in zip(optimizers, steps) { optimizer.steps = count }
        if predictor?.optimizerSteps != nil { predictor?.optimizerSteps = steps.last }
        let stateSize = nodes * observationSize
        let reservoir = predictor?.stateSize ?? 0
        let (states, actions, rewards) = (
            try floats("replay.state"), try floats("replay.actions"), try floats("replay.reward")
        )
        let (nextStates, done, discounts) = (
            try floats("replay.next_state"), try floats("replay.done"), try floats("replay.discount")
        )
        let (allowed, nextAllowed) = (try floats("replay.allowed"), try floats("replay.next_allowed"))
        let (synthetic, reservoirs, next) = (
            try floats("replay.synthetic"), try floats("replay.reservoir"), try floats("replay.next")
        )
        let count = rewards.count
        guard states.count == count * stateSize, actions.count == count * nodes * nodes,
            nextStates.count == states.count,
            allowed.count == count * nodes, reservoirs.count == count * reservoir, next.count == 1,
            discounts.count == count
        else { throw TrainingError(.invalidPolicy, "\(file.path): the replay buffer's tensors disagree in size") }
        let items = (0..<count).map { i in
            Experience(
                state: Array(states[(i * stateSize)..<((i + 1) * stateSize)]),
                actions: Array(actions[(i * nodes * nodes)..<((i + 1) * nodes * nodes)]), reward: rewards[i],
                nextState: Array(nextStates[(i * stateSize)..<((i + 1) * stateSize)]), done: done[i] > 0,
                discount: discounts[i],
                allowed: Array(allowed[(i * nodes)..<((i + 1) * nodes)]),
                nextAllowed: Array(nextAllowed[(i * nodes)..<((i + 1) * nodes)]),
                previousReservoir: synthetic[i] > 0 ? nil : Array(reservoirs[(i * reservoir)..<((i + 1) * reservoir)]))
        }
        replay = ReplayBuffer(capacity: config.replayCapacity, items: items, next: Int(next[0]))
    }
}
