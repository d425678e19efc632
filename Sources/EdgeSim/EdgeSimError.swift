/// Why a scenario, an instance or a plan cannot be used. `description` is one line naming the file and field.
package struct EdgeSimError: Error, Sendable, CustomStringConvertible {
    /// A stable, machine-readable kind of failure (tests and scripts match on it, never on message text).
    package struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        package var rawValue: String
        package init(rawValue: String) { self.rawValue = rawValue }
        package var description: String { rawValue }

        /// A file (scenario, beamforming instance) cannot be read.
        package static let unreadable = Code(rawValue: "unreadable")
        /// A scenario field is unknown, of the wrong type or out of its range.
        package static let invalidScenario = Code(rawValue: "invalid_scenario")
        /// A beamforming instance has wrong shapes or values.
        package static let invalidInstance = Code(rawValue: "invalid_instance")
        /// A scheme or a policy produced a plan that breaks constraint (1) or (2) — a bug in that scheme.
        package static let invalidPlan = Code(rawValue: "invalid_plan")
        /// The scheme cannot solve an instance of this size (`exact` beyond its limit).
        package static let intractable = Code(rawValue: "intractable")
    }

    package var code: Code
    /// The file concerned, when the input came from one.
    package var path: String?
    /// The field concerned (`capacity_bytes`), when there is one.
    package var field: String?
    package var message: String
    package var underlying: (any Error)?

    package init(
        _ code: Code, path: String? = nil, field: String? = nil, _ message: String, underlying: (any Error)? = nil
    ) {
        self.code = code
        self.path = path
        self.field = field
        self.message = message
        self.underlying = underlying
    }

    /// The same error, read from `path`.
    func at(_ path: String) -> EdgeSimError {
        var located = self
        located.path = path
        return located
    }

    package var description: String { (path.map { $0 + ": " } ?? "") + message }
}
