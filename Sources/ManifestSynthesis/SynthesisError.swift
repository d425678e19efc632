package import PBRCore

/// Why a manifest cannot be synthesized.
package struct SynthesisError: Error, Sendable, CustomStringConvertible {
    package typealias Code = ErrorCode<SynthesisError>

    package var code: Code
    package var message: String

    package init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    package var description: String { message }
}

extension ErrorCode where Domain == SynthesisError {

    /// No repository of that name is known.
    package static let unknownRepository = ErrorCode(rawValue: "unknown_repository")
}
