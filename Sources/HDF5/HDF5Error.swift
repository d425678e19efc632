/// A failure of libhdf5 or of a file it reads, with the file and the object it concerns.
///
/// `detail` holds the innermost messages of the library's error stack (which is otherwise silenced: libhdf5
/// prints nothing to stderr while pbrepo runs).
public struct HDF5Error: Error, Sendable, CustomStringConvertible {
    /// A stable, machine-readable kind of failure (tests and scripts match on it, never on message text).
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        /// The operation, object and detail; the file is left out because every caller's message already names it.
        public var description: String { rawValue }

        /// libhdf5 refused a call (the file is damaged, or not what the call needs).
        public static let library = Code(rawValue: "library")
        /// The file's metadata describes data pbrepo cannot read safely (sizes that overflow, rows too large).
        public static let invalidData = Code(rawValue: "invalid_data")
        /// The object was used after it was closed.
        public static let closed = Code(rawValue: "closed")
    }

    public var code: Code
    /// The file's path as given by the caller.
    public var file: String
    /// The HDF5 path of the group, dataset or attribute concerned ("/" for the file itself).
    public var object: String
    /// What pbrepo was doing, e.g. "open file", "read dataset".
    public var operation: String
    /// What went wrong, in the library's words or ours.
    public var detail: String

    public init(_ code: Code = .library, file: String, object: String, operation: String, detail: String) {
        self.code = code
        self.file = file
        self.object = object
        self.operation = operation
        self.detail = detail
    }

    /// The operation, object and detail; the file is left out because every caller's message already names it.
    public var description: String {
        let place = object == "/" || object.isEmpty ? "" : " \(object)"
        return "\(operation)\(place): \(detail)"
    }
}
