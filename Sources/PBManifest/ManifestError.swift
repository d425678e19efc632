/// Why a manifest cannot be read or used. `description` is one line naming the file and the member.
package struct ManifestError: Error, Sendable, CustomStringConvertible {
    /// A stable, machine-readable kind of failure (tests and scripts match on it, never on message text).
    package struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        package var rawValue: String
        package init(rawValue: String) { self.rawValue = rawValue }
        package var description: String { rawValue }

        /// The file cannot be read.
        package static let unreadable = Code(rawValue: "unreadable")
        /// The text is not JSON (or repeats a key in one object).
        package static let invalidJSON = Code(rawValue: "invalid_json")
        /// The `schema` member is not `pbrepo.manifest/v1`.
        package static let wrongSchema = Code(rawValue: "wrong_schema")
        /// A member is missing, unknown, of the wrong type or out of its range.
        package static let invalidField = Code(rawValue: "invalid_field")
        /// Two blocks have the same id.
        package static let duplicateBlock = Code(rawValue: "duplicate_block")
        /// A model names a block the manifest does not list.
        package static let unknownBlock = Code(rawValue: "unknown_block")
        /// Valid, but unusable for the purpose (a simulation needs at least one model).
        package static let unusable = Code(rawValue: "unusable")
    }

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
