package import PBRCore

/// Why the edge node could not answer: what was asked for is unknown to it and its sources, a source failed, or
/// the request is not one it serves. `status` is the HTTP status it answers with, `ociCode` the spec's error code.
package struct EdgeError: Error, Sendable, CustomStringConvertible {
    package typealias Code = ErrorCode<EdgeError>

    package var code: Code
    package var message: String

    package init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    package var description: String { message }

    package var status: Int {
        switch code {
        case .blobUnknown, .manifestUnknown, .nameUnknown: 404
        case .unsupported: 405
        case .rangeNotSatisfiable: 416
        case .invalidRequest: 400
        default: 502
        }
    }

    /// The error code of the distribution spec's JSON error body.
    package var ociCode: String {
        switch code {
        case .blobUnknown: "BLOB_UNKNOWN"
        case .manifestUnknown: "MANIFEST_UNKNOWN"
        case .nameUnknown: "NAME_UNKNOWN"
        case .unsupported: "UNSUPPORTED"
        case .invalidRequest: "NAME_INVALID"
        case .rangeNotSatisfiable: "BLOB_UNKNOWN"
        default: "UNAVAILABLE"
        }
    }
}

extension ErrorCode where Domain == EdgeError {
    package static let blobUnknown = ErrorCode(rawValue: "blob_unknown")
    package static let manifestUnknown = ErrorCode(rawValue: "manifest_unknown")
    package static let nameUnknown = ErrorCode(rawValue: "name_unknown")
    /// Not part of the read API the edge serves (pushes, deletes).
    package static let unsupported = ErrorCode(rawValue: "unsupported")
    package static let invalidRequest = ErrorCode(rawValue: "invalid_request")
    package static let rangeNotSatisfiable = ErrorCode(rawValue: "range_not_satisfiable")
    /// Every source failed (or lied) for something the edge does not hold.
    package static let upstreamFailed = ErrorCode(rawValue: "upstream_failed")
}
