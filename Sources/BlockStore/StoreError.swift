package import PBRCore

/// Why a store operation failed. `description` is one line naming the model, object or file.
package struct StoreError: Error, Sendable, CustomStringConvertible {
    package struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        package var rawValue: String
        package init(rawValue: String) { self.rawValue = rawValue }
        package var description: String { rawValue }

        package static let io = Code(rawValue: "io")
        package static let database = Code(rawValue: "database")
        package static let unknownModel = Code(rawValue: "unknown_model")
        /// A model of that name exists with different content.
        package static let conflict = Code(rawValue: "conflict")
        package static let missingObject = Code(rawValue: "missing_object")
        package static let corruptObject = Code(rawValue: "corrupt_object")
        /// An assembled file does not have the sha256 recorded at ingest.
        package static let checksumMismatch = Code(rawValue: "checksum_mismatch")
        package static let invalidArgument = Code(rawValue: "invalid_argument")
    }

    package var code: Code
    package var message: String
    /// The error this one wraps (a `FileError`, a database or decoding error), if any.
    package var underlying: (any Error)?

    package init(_ code: Code, _ message: String, underlying: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.underlying = underlying
    }

    /// A file-system failure of the core's file types, as an `.io` store error naming the file.
    package init(_ error: FileError) {
        self.init(.io, error.description, underlying: error)
    }

    package var description: String { message }
}
