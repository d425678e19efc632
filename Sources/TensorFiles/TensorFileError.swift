public import PBRCore

/// Why a checkpoint file cannot be read or written. `description` is one line naming the file and the problem.
public struct TensorFileError: Error, Sendable, CustomStringConvertible {
    public typealias Code = ErrorCode<TensorFileError>

    public var code: Code
    /// The file (or directory) concerned.
    public var path: String
    /// What is wrong, naming the tensor or object where there is one.
    public var message: String
    /// The error this one wraps (a `FileError`, an `HDF5Error`), if any.
    public var underlying: (any Error)?

    public init(_ code: Code, path: String, _ message: String, underlying: (any Error)? = nil) {
        self.code = code
        self.path = path
        self.message = message
        self.underlying = underlying
    }

    /// A file-system failure of the core's file types, as an `.io` error of this module.
    public init(_ error: FileError) {
        self.init(.io, path: error.path, error.message, underlying: error)
    }

    public var description: String { "\(path): \(message)" }
}

/// Runs a core file operation with its `FileError` reported as this module's `.io` error.
func fileOperation<T>(_ body: () throws(FileError) -> T) throws(TensorFileError) -> T {
    do {
        return try body()
    } catch {
        throw TensorFileError(error)
    }
}

extension ErrorCode where Domain == TensorFileError {

    /// The file system refused (missing file, permissions, disk full).
    public static let io = ErrorCode(rawValue: "io")
    /// Some other format (a PyTorch pickle or zip, GGUF, ONNX, text): the message says which it looks like.
    public static let notSafetensors = ErrorCode(rawValue: "not_safetensors")
    /// Shorter than the 8-byte header length prefix (this includes empty files).
    public static let tooShort = ErrorCode(rawValue: "too_short")
    /// The header length exceeds the 100 MB limit of the reference implementation.
    public static let headerTooLarge = ErrorCode(rawValue: "header_too_large")
    /// The header length points past the end of the file.
    public static let headerPastEnd = ErrorCode(rawValue: "header_past_end")
    public static let invalidUTF8 = ErrorCode(rawValue: "invalid_utf8")
    public static let invalidJSON = ErrorCode(rawValue: "invalid_json")
    /// The same tensor name (or any key) appears twice in one JSON object.
    public static let duplicateName = ErrorCode(rawValue: "duplicate_name")
    /// Valid JSON, but not the header schema (wrong types, missing fields, non-string metadata).
    public static let invalidHeader = ErrorCode(rawValue: "invalid_header")
    public static let unknownDType = ErrorCode(rawValue: "unknown_dtype")
    /// An offset that is not an integer in [0, 2⁶⁴).
    public static let offsetOutOfRange = ErrorCode(rawValue: "offset_out_of_range")
    public static let reversedOffsets = ErrorCode(rawValue: "reversed_offsets")
    public static let overlappingOffsets = ErrorCode(rawValue: "overlapping_offsets")
    /// Bytes of the data section that belong to no tensor, between tensors.
    public static let hole = ErrorCode(rawValue: "hole")
    /// shape × dtype size differs from the byte range (or overflows).
    public static let sizeMismatch = ErrorCode(rawValue: "size_mismatch")
    /// The header describes more data than the file holds.
    public static let truncated = ErrorCode(rawValue: "truncated")
    /// The file holds bytes after the last tensor.
    public static let trailingBytes = ErrorCode(rawValue: "trailing_bytes")
    /// Shards and their index disagree, or a directory holds no checkpoint.
    public static let shardMismatch = ErrorCode(rawValue: "shard_mismatch")
    /// libhdf5 refused the file or an object in it.
    public static let hdf5 = ErrorCode(rawValue: "hdf5")
    /// Valid, but uses a feature pbrepo does not handle (named in the message).
    public static let unsupported = ErrorCode(rawValue: "unsupported")
}
