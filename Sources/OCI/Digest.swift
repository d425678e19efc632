package import Crypto

/// A content digest as OCI writes it: `sha256:` and 64 lowercase hex digits. Only SHA-256 is accepted: it is the one
/// algorithm every registry implements (distribution re-hashes a `sha512:` upload to sha256), and a digest the client
/// cannot check is worth nothing.
package struct OCIDigest: Hashable, Sendable, CustomStringConvertible, Comparable {
    /// The 64 lowercase hex digits.
    package let hex: String

    package init(parsing text: String) throws(OCIError) {
        guard text.hasPrefix("sha256:") else {
            throw OCIError(.invalidDigest, "digest \"\(Self.shown(text))\" is not a sha256 digest (sha256:<64 hex>)")
        }
        let hex = text.dropFirst(7)
        guard hex.utf8.count == 64, hex.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) })
        else {
            throw OCIError(
                .invalidDigest, "digest \"\(Self.shown(text))\" does not have 64 lowercase hex digits after sha256:")
        }
        self.hex = String(hex)
    }

    /// The digest of a finished SHA-256.
    package init(_ digest: SHA256.Digest) {
        hex = digest.map { byte in
            let digits = Array("0123456789abcdef".utf8)
            return String(decoding: [digits[Int(byte >> 4)], digits[Int(byte & 15)]], as: UTF8.self)
        }.joined()
    }

    /// The digest of `bytes`.
    package init(of bytes: [UInt8]) {
        self.init(bytes.withUnsafeBytes { SHA256.hash(data: $0) })
    }

    package init(of bytes: UnsafeRawBufferPointer) {
        self.init(SHA256.hash(data: bytes))
    }

    /// Trusted hex from the project's own index (64 lowercase hex digits, checked when it was written).
    package init(trustedHex hex: String) { self.hex = hex }

    package var description: String { "sha256:" + hex }

    package static func < (a: OCIDigest, b: OCIDigest) -> Bool { a.hex < b.hex }

    /// At most 80 characters of untrusted text, for a message.
    static func shown(_ text: String) -> String { text.count > 80 ? String(text.prefix(77)) + "..." : text }
}
