package import PBRCore

/// Why partition rules cannot be used. `description` is one line naming the rules file and the rule.
package struct PartitionError: Error, Sendable, CustomStringConvertible {
    package typealias Code = ErrorCode<PartitionError>

    package var code: Code
    /// The rules file ("rules" for rules built in memory).
    package var path: String
    /// The rule's position in the file, when one rule is at fault.
    package var rule: Int?
    package var message: String
    package var underlying: (any Error)?

    package init(_ code: Code, path: String, rule: Int? = nil, _ message: String, underlying: (any Error)? = nil) {
        self.code = code
        self.path = path
        self.rule = rule
        self.message = message
        self.underlying = underlying
    }

    package var description: String { "\(path): \(message)" }
}

extension ErrorCode where Domain == PartitionError {

    /// The rules file cannot be read.
    package static let unreadable = ErrorCode(rawValue: "unreadable")
    /// The rules file is not JSON.
    package static let invalidJSON = ErrorCode(rawValue: "invalid_json")
    /// A rule lacks a field, names an unknown kind or has a pattern that is not a regular expression.
    package static let invalidRule = ErrorCode(rawValue: "invalid_rule")
}
