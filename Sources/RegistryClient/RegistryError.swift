package import PBRCore

/// Why a request to a registry (or a pbrepo edge node) failed. `description` names the registry, the repository,
/// the blob or manifest, and what was wrong.
package struct RegistryError: Error, Sendable, CustomStringConvertible {
    package typealias Code = ErrorCode<RegistryError>

    package var code: Code
    package var message: String
    /// The HTTP status, when the registry answered.
    package var status: Int?

    package init(_ code: Code, _ message: String, status: Int? = nil) {
        self.code = code
        self.message = message
        self.status = status
    }

    package var description: String { message }
}

extension ErrorCode where Domain == RegistryError {
    /// The registry asks for credentials that were not given, or refused the ones given.
    package static let unauthorized = ErrorCode(rawValue: "unauthorized")
    /// No such repository, manifest or blob.
    package static let notFound = ErrorCode(rawValue: "not_found")
    /// The registry refused the request (4xx other than 401/404/429), with its error code in the message.
    package static let refused = ErrorCode(rawValue: "refused")
    /// The registry failed (5xx, or 429) on every attempt.
    package static let unavailable = ErrorCode(rawValue: "unavailable")
    /// The registry answered something the protocol does not allow: bytes that do not match their digest or size, a
    /// missing `Location`, a range other than the one asked for, a manifest over the limits, a redirect loop.
    package static let badResponse = ErrorCode(rawValue: "bad_response")
    /// No answer in time (connect, or no bytes for the read timeout).
    package static let timeout = ErrorCode(rawValue: "timeout")
    /// The connection could not be made or broke.
    package static let network = ErrorCode(rawValue: "network")
    /// A credential file or flag that cannot be read.
    package static let credentials = ErrorCode(rawValue: "credentials")
}
