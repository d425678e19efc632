/// Why a manifest cannot be read or used. `description` is one line naming the file and the member.
public struct ManifestError: Error, Sendable, CustomStringConvertible {
    /// A stable, machine-readable kind of failure (tests and scripts match on it, never on message text).
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// The file cannot be read.
        public static let unreadable = Code(rawValue: "unreadable")
        /// The text is not JSON (or repeats a key in one object).
        public static let invalidJSON = Code(rawValue: "invalid_json")
        /// The `schema` member is not `pbrepo.manifest/v1`.
        public static let wrongSchema = Code(rawValue: "wrong_schema")
        /// A member is missing, unknown, of the wrong type or out of its range.
        public static let invalidField = Code(rawValue: "invalid_field")
        /// Two blocks have the same id.
        public static let duplicateBlock = Code(rawValue: "duplicate_block")
        /// A model names a block the manifest does not list.
        public static let unknownBlock = Code(rawValue: "unknown_block")
        /// Valid, but unusable for the purpose (a simulation needs at least one model).
        public static let unusable = Code(rawValue: "unusable")
    }

    public var code: Code
    /// The manifest file.
    public var path: String
    /// The member concerned, as a path (`models[3].blocks[0]`), when there is one.
    public var field: String?
    public var message: String
    public var underlying: (any Error)?

    public init(_ code: Code, path: String, field: String?, _ message: String, underlying: (any Error)? = nil) {
        self.code = code
        self.path = path
        self.field = field
        self.message = message
        self.underlying = underlying
    }

    public var description: String { path + ": " + (field.map { $0 + ": " } ?? "") + message }
}
