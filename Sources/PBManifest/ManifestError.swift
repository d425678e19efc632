package import PBRCore

/// Why a manifest cannot be read or used. `description` is one line naming the file and the member.
package struct ManifestError: Error, Sendable, CustomStringConvertible {
    package typealias Code = ErrorCode<ManifestError>

    package var code: Code
    /// The manifest file.
    package var path: String
    /// The member concerned, as a path (`models[3].blocks[0]`), when there is one.
    package var field: String?
    package var message: String
    package var underlying: (any Error)?

    package init(_ code: Code, path: String, field: String?, _ message: String, underlying: (any Error)? = nil) {
        self.code = code
        self.path = path
        self.field = field
        self.message = message
        self.underlying = underlying
    }

    package var description: String { path + ": " + (field.map { $0 + ": " } ?? "") + message }
}

extension ErrorCode where Domain == ManifestError {

    /// The file cannot be read.
    package static let unreadable = ErrorCode(rawValue: "unreadable")
    /// The text is not JSON (or repeats a key in one object).
    package static let invalidJSON = ErrorCode(rawValue: "invalid_json")
    /// The `schema` member is not `pbrepo.manifest/v1`.
    package static let wrongSchema = ErrorCode(rawValue: "wrong_schema")
    /// A member is missing, unknown, of the wrong type or out of its range.
    package static let invalidField = ErrorCode(rawValue: "invalid_field")
    /// Two blocks have the same id.
    package static let duplicateBlock = ErrorCode(rawValue: "duplicate_block")
    /// A model names a block the manifest does not list.
    package static let unknownBlock = ErrorCode(rawValue: "unknown_block")
    /// Valid, but unusable for the purpose (a simulation needs at least one model).
    package static let unusable = ErrorCode(rawValue: "unusable")
}
