/// A stable, machine-readable kind of failure of one error type (`Domain`): tests and scripts match on it, never
/// on message text. Each error type declares its codes as constrained statics:
///
///     extension ErrorCode where Domain == StoreError {
///         public static let conflict = ErrorCode(rawValue: "conflict")
///     }
///
/// so that `error.code == .conflict` reads as usual and codes of different error types never compare equal.
public struct ErrorCode<Domain>: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }
}
