import ArgumentParser
import EdgeSim
import Foundation

struct BeamformCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "beamform",
        abstract: "Solve one robust CoMP broadcast beamforming instance (problem P2(k), docs/beamforming.md).")

    @Option(help: "Instance file (JSON).") var instance: String
    @Flag(help: "Design for the estimated channels only (the non-robust baseline); rates are still worst-case.")
    var nonRobust = false
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let problem = try Console.run { try BeamformingInstance.load(instance) }
        let start = DispatchTime.now()
        let solution = RobustBeamformer.solve(problem, robust: !nonRobust)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
        if json { return print(solution.jsonText) }
        print(
            "\(problem.users) users, \(problem.nodes) nodes × \(problem.antennas) antennas; solved in \(String(format: "%.2f", seconds * 1000)) ms"
        )
        for (user, rate) in solution.worstCaseRates.enumerated() {
            print(
                String(
                    format: "user %d: worst-case %.3f Gbit/s (QoS %.3f)", user, rate / 1e9, problem.qosBps[user] / 1e9))
        }
        print(
            String(
                format: "min worst-case rate %.3f Gbit/s, delay %.4f s, %@", solution.minimumWorstCaseRate / 1e9,
                solution.delaySeconds, solution.feasible ? "QoS met for every error" : "QoS NOT met"))
    }
}
