/// A failure of libhdf5 or of a file it reads, with the file and the object it concerns.
///
/// `detail` holds the innermost messages of the library's error stack (which is otherwise silenced: libhdf5
/// prints nothing to stderr while pbrepo runs).
public struct HDF5Error: Error, Sendable, CustomStringConvertible {
    /// The file's path as given by the caller.
    public var file: String
    /// The HDF5 path of the group, dataset or attribute concerned ("/" for the file itself).
    public var object: String
    /// What pbrepo was doing, e.g. "open file", "read dataset".
    public var operation: String
    /// What went wrong, in the library's words or ours.
    public var detail: String

    public init(file: String, object: String, operation: String, detail: String) {
        self.file = file
        self.object = object
        self.operation = operation
        self.detail = detail
    }

    public var description: String {
        let place = object == "/" || object.isEmpty ? "" : " \(object)"
        return "\(operation)\(place): \(detail)"
    }
}
