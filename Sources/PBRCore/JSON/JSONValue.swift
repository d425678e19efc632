/// A JSON value that keeps object members in the order they were written.
///
/// Numbers keep their source text, so 64-bit integers (tensor offsets) are read exactly rather than through
/// `Double`.
public indirect enum JSONValue: Sendable, Equatable {
    case object([Member])
    case array([JSONValue])
    case string(String)
    case number(String)
    case bool(Bool)
    case null

    public struct Member: Sendable, Equatable {
        public var key: String
        public var value: JSONValue
        /// Byte offset of the member's key in the parsed text (for error messages; not part of equality).
        public var offset: Int

        public static func == (a: Member, b: Member) -> Bool { a.key == b.key && a.value == b.value }
    }

    /// The value of `key` in an object; nil if absent or not an object.
    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.key == key }?.value
    }

    /// A non-negative integer that fits 64 bits, written without fraction or exponent.
    public var uint64: UInt64? {
        guard case .number(let text) = self else { return nil }
        return UInt64(text)
    }

    public var stringValue: String? {
        if case .string(let text) = self { return text }
        return nil
    }

    /// Short name of the JSON type, for messages ("object", "array", ...).
    public var typeName: String {
        switch self {
        case .object: return "object"
        case .array: return "array"
        case .string: return "string"
        case .number: return "number"
        case .bool: return "boolean"
        case .null: return "null"
        }
    }

    /// Compact JSON text of the value (keys in their stored order).
    public var serialized: String {
        switch self {
        case .object(let members):
            return "{" + members.map { JSONValue.quote($0.key) + ":" + $0.value.serialized }.joined(separator: ",")
                + "}"
        case .array(let values): return "[" + values.map(\.serialized).joined(separator: ",") + "]"
        case .string(let text): return JSONValue.quote(text)
        case .number(let text): return text
        case .bool(let flag): return flag ? "true" : "false"
        case .null: return "null"
        }
    }

    /// Indented JSON text (two spaces per level, keys in their stored order), ending without a newline. Arrays of
    /// numbers stay on one line.
    ///
    /// - Parameter expandedDepth: levels of nesting laid out one member per line; deeper values are written on one
    ///   line with a space after each `,` and `:` (nil expands every level).
    public func prettyPrinted(indent: String = "", expandedDepth: Int? = nil) -> String {
        if let expandedDepth, expandedDepth <= 0 { return spaced }
        let inner = indent + "  "
        let deeper = expandedDepth.map { $0 - 1 }
        switch self {
        case .object(let members) where !members.isEmpty:
            let lines = members.map {
                inner + JSONValue.quote($0.key) + ": " + $0.value.prettyPrinted(indent: inner, expandedDepth: deeper)
            }
            return "{\n" + lines.joined(separator: ",\n") + "\n" + indent + "}"
        case .array(let values) where !values.isEmpty:
            if values.allSatisfy({ if case .number = $0 { return true } else { return false } }) { return serialized }
            let lines = values.map { inner + $0.prettyPrinted(indent: inner, expandedDepth: deeper) }
            return "[\n" + lines.joined(separator: ",\n") + "\n" + indent + "]"
        default:
            return serialized
        }
    }

    /// One line of JSON with a space after each `,` and `:`, as people write short objects.
    public var spaced: String {
        switch self {
        case .object(let members):
            return "{" + members.map { JSONValue.quote($0.key) + ": " + $0.value.spaced }.joined(separator: ", ") + "}"
        case .array(let values): return "[" + values.map(\.spaced).joined(separator: ", ") + "]"
        default: return serialized
        }
    }

    /// Builds an object from key–value pairs in order.
    public static func object(_ pairs: [(String, JSONValue)]) -> JSONValue {
        .object(pairs.map { Member(key: $0.0, value: $0.1, offset: 0) })
    }

    public static func number<N: BinaryInteger>(_ value: N) -> JSONValue { .number(String(value)) }

    /// A floating-point number in Swift's shortest round-tripping form; `null` for NaN and infinities, which JSON
    /// cannot write.
    public static func number(_ value: Double) -> JSONValue { value.isFinite ? .number("\(value)") : .null }
    /// A quantity that is whole by nature (bytes, counts) but held as a `Double`: written as an integer when it is
    /// one (`59392`, not `59392.0`), so that pandas reads the column as integers.
    public static func integral(_ value: Double) -> JSONValue {
        value.isFinite && value == value.rounded() && abs(value) < 9.0e15
            ? .number(String(Int64(value))) : .number(value)
    }

    /// Compact JSON text as bytes.
    public var utf8: [UInt8] { Array(serialized.utf8) }

    /// `text` as a JSON string literal (escaping what RFC 8259 requires, nothing else).
    public static func quote(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
