package import PBRCore

/// Why a store operation failed. `description` is one line naming the model, object or file.
package struct StoreError: Error, Sendable, CustomStringConvertible {
    package typealias Code = ErrorCode<StoreError>

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

extension ErrorCode where Domain == StoreError {

    package static let io = ErrorCode(rawValue: "io")
    package static let database = ErrorCode(rawValue: "database")
    package static let unknownModel = ErrorCode(rawValue: "unknown_model")
    /// A model of that name exists with different content.
    package static let conflict = ErrorCode(rawValue: "conflict")
    package static let missingObject = ErrorCode(rawValue: "missing_object")
    package static let corruptObject = ErrorCode(rawValue: "corrupt_object")
    /// An assembled file does not have the sha256 recorded at ingest.
    package static let checksumMismatch = ErrorCode(rawValue: "checksum_mismatch")
    package static let invalidArgument = ErrorCode(rawValue: "invalid_argument")
    /// The output of assemble exists and `--force` was not given.
    package static let outputExists = ErrorCode(rawValue: "output_exists")
}
