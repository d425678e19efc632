import Glibc

/// Why the file system refused an operation of the core's file types. `description` is one line naming the file.
public struct FileError: Error, Sendable, CustomStringConvertible {
    public typealias Code = ErrorCode<FileError>

    public var code: Code
    /// The file or directory concerned.
    public var path: String
    /// What went wrong, in words.
    public var message: String
    /// The system's error number, when a system call failed.
    public var errno: Int32?
    /// The error this one wraps (a `JSONSyntaxError`, a decoding error), if any.
    public var underlying: (any Error)?

    public init(
        _ code: Code, path: String, _ message: String, errno: Int32? = nil, underlying: (any Error)? = nil
    ) {
        self.code = code
        self.path = path
        self.message = message
        self.errno = errno
        self.underlying = underlying
    }

    /// A failed system call: the message ends with the text of the current `errno`.
    public static func system(_ path: String, _ what: String) -> FileError {
        let number = Glibc.errno
        return FileError(.io, path: path, "\(what): \(String(cString: strerror(number)))", errno: number)
    }

    public var description: String { "\(path): \(message)" }
}

/// The text of the current `errno`.
package func systemError() -> String { String(cString: strerror(errno)) }

extension ErrorCode where Domain == FileError {

    /// The system call failed (missing file, permissions, disk full); `errno` says why.
    public static let io = ErrorCode(rawValue: "io")
    /// The path exists but is not what the operation needs (a directory where a file was expected).
    public static let wrongKind = ErrorCode(rawValue: "wrong_kind")
    /// The file's text is not valid JSON, or not the JSON the reader expects.
    public static let invalidJSON = ErrorCode(rawValue: "invalid_json")
    /// A file name pbrepo cannot record as it is (not UTF-8).
    public static let invalidName = ErrorCode(rawValue: "invalid_name")
}
