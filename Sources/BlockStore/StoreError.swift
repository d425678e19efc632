import PBRCore

/// Why a store operation failed. `description` is one line naming the model, object or file.
public struct StoreError: Error, Sendable, CustomStringConvertible {
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        public static let io = Code(rawValue: "io")
        public static let database = Code(rawValue: "database")
        public static let unknownModel = Code(rawValue: "unknown_model")
        /// A model of that name exists with different content.
        public static let conflict = Code(rawValue: "conflict")
        public static let missingObject = Code(rawValue: "missing_object")
        public static let corruptObject = Code(rawValue: "corrupt_object")
        /// An assembled file does not have the sha256 recorded at ingest.
        public static let checksumMismatch = Code(rawValue: "checksum_mismatch")
        public static let invalidArgument = Code(rawValue: "invalid_argument")
    }

    public var code: Code
    public var message: String
    /// The error this one wraps (a `FileError`, a database or decoding error), if any.
    public var underlying: (any Error)?

    public init(_ code: Code, _ message: String, underlying: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.underlying = underlying
    }

    /// A file-system failure of the core's file types, as an `.io` store error naming the file.
    public init(_ error: FileError) {
        self.init(.io, error.description, underlying: error)
    }

    public var description: String { message }
}
