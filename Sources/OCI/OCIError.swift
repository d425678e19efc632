package import PBRCore

/// Why an OCI document, reference or digest was refused. `description` names the document or field and what is
/// wrong.
package struct OCIError: Error, Sendable, CustomStringConvertible {
    package typealias Code = ErrorCode<OCIError>

    package var code: Code
    package var message: String

    package init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    package var description: String { message }
}

extension ErrorCode where Domain == OCIError {
    /// A reference (`host/name:tag`), repository name or tag that the distribution spec's grammar refuses.
    package static let invalidReference = ErrorCode(rawValue: "invalid_reference")
    /// A digest that is not `sha256:` and 64 lowercase hex digits.
    package static let invalidDigest = ErrorCode(rawValue: "invalid_digest")
    /// A manifest or index that is not what it claims (bad JSON, a missing field, over the limits).
    package static let invalidManifest = ErrorCode(rawValue: "invalid_manifest")
}
