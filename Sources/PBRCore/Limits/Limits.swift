import Foundation

/// Upper bounds on sizes read from files and options, so that a typo (`nodes: 1000000`) is a clear refusal rather than
/// a process that grows past the machine's memory. Each is listed in docs/limits.md and can be raised for one run by
/// the environment variable `PBREPO_LIMIT_<NAME>` (e.g. `PBREPO_LIMIT_NODES=5000`).
public struct Limit: Sendable {
    /// The name after `PBREPO_LIMIT_`.
    public let name: String
    public let defaultValue: Double

    public init(_ name: String, _ defaultValue: Double) {
        self.name = name
        self.defaultValue = defaultValue
    }

    /// The bound in force: the environment's override when it is a positive number, else the default.
    public var value: Double {
        if let text = ProcessInfo.processInfo.environment["PBREPO_LIMIT_" + name], let raised = Double(text),
            raised > 0, raised.isFinite
        {
            return raised
        }
        return defaultValue
    }

    /// "at most 1000 (PBREPO_LIMIT_NODES raises it)".
    public var phrase: String {
        let shown = value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
        return "at most \(shown) (PBREPO_LIMIT_\(name) raises it)"
    }

    /// Whether `number` is within the bound.
    public func allows(_ number: Double) -> Bool { number <= value }
    public func allows(_ number: Int) -> Bool { Double(number) <= value }

    // Scenarios: the channel tensor holds nodes × users × antennas complex numbers.
    public static let nodes = Limit("NODES", 1_000)
    public static let users = Limit("USERS", 100_000)
    public static let antennas = Limit("ANTENNAS", 1_024)
    public static let channelEntries = Limit("CHANNEL_ENTRIES", 50_000_000)
    // Manifests.
    public static let blocks = Limit("BLOCKS", 1_000_000)
    // Learners: a hidden layer of n units costs n² weights per layer.
    public static let hiddenUnits = Limit("HIDDEN_UNITS", 4_096)
    public static let replayCapacity = Limit("REPLAY_CAPACITY", 10_000_000)
    // Monte Carlo draws and training episodes.
    public static let draws = Limit("DRAWS", 100_000_000)
    public static let episodes = Limit("EPISODES", 10_000_000)
    // The child that reads an HDF5 file first (libhdf5 can crash or hang on corrupt files): seconds it may take,
    // plus one per 100 MB of file.
    public static let hdf5CheckSeconds = Limit("HDF5_CHECK_SECONDS", 60)
}
