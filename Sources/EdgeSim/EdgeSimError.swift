package import PBRCore

/// Why a scenario, an instance or a plan cannot be used. `description` is one line naming the file and field.
package struct EdgeSimError: Error, Sendable, CustomStringConvertible {
    package typealias Code = ErrorCode<EdgeSimError>

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

extension ErrorCode where Domain == EdgeSimError {

    /// A file (scenario, beamforming instance) cannot be read.
    package static let unreadable = ErrorCode(rawValue: "unreadable")
    /// A scenario field is unknown, of the wrong type or out of its range.
    package static let invalidScenario = ErrorCode(rawValue: "invalid_scenario")
    /// A beamforming instance has wrong shapes or values.
    package static let invalidInstance = ErrorCode(rawValue: "invalid_instance")
    /// A scheme or a policy produced a plan that breaks constraint (1) or (2) — a bug in that scheme.
    package static let invalidPlan = ErrorCode(rawValue: "invalid_plan")
    /// The scheme cannot solve an instance of this size (`exact` beyond its limit).
    package static let intractable = ErrorCode(rawValue: "intractable")
}
