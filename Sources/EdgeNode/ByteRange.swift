import Foundation

/// What a `Range` header asks of a resource of `size` bytes (RFC 9110 §14): one range of the forms `a-b`, `a-` and
/// `-n` (the last n bytes). Several ranges, another unit or a malformed header are answered with the whole
/// resource, as the RFC allows; a range that starts past the end cannot be satisfied.
package enum ByteRangeRequest: Equatable, Sendable {
    case whole
    case partial(Range<UInt64>)
    case unsatisfiable

    package init(header: String?, size: UInt64) {
        guard let header else {
            self = .whole
            return
        }
        let trimmed = header.trimmingCharacters(in: .whitespaces)
        guard trimmed.lowercased().hasPrefix("bytes=") else {
            self = .whole
            return
        }
        let spec = trimmed.dropFirst(6).trimmingCharacters(in: .whitespaces)
        guard !spec.contains(","), let dash = spec.firstIndex(of: "-") else {
            self = .whole
            return
        }
        let first = spec[..<dash].trimmingCharacters(in: .whitespaces)
        let last = spec[spec.index(after: dash)...].trimmingCharacters(in: .whitespaces)
        let digits = { (text: String) in !text.isEmpty && text.allSatisfy { $0 >= "0" && $0 <= "9" } }
        if first.isEmpty {
            // A suffix: the last n bytes (all of them when n exceeds the size).
            guard digits(last), let count = UInt64(last) else {
                self = .whole
                return
            }
            guard count > 0, size > 0 else {
                self = .unsatisfiable
                return
            }
            self = .partial((size - Swift.min(count, size))..<size)
            return
        }
        guard digits(first), let start = UInt64(first), last.isEmpty || digits(last) else {
            self = .whole
            return
        }
        let end: UInt64
        if last.isEmpty {
            end = size
        } else {
            guard let lastByte = UInt64(last), lastByte >= start else {
                self = .whole
                return
            }
            end = Swift.min(lastByte == UInt64.max ? lastByte : lastByte + 1, size)
        }
        guard start < size else {
            self = .unsatisfiable
            return
        }
        self = .partial(start..<end)
    }
}
