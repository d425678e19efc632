/// A `JSONValue` read from or written to any coder (Foundation's included), so that a `Codable` type can take part of
/// its input as raw JSON. Numbers read from other decoders keep their value, not their text; object members come in
/// key order from decoders that do not keep the input's order.
extension JSONValue: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let flag = try? container.decode(Bool.self) {
            self = .bool(flag)
        } else if let integer = try? container.decode(Int64.self) {
            self = .number(integer)
        } else if let number = try? container.decode(Double.self) {
            self = .number(number)
        } else if let text = try? container.decode(String.self) {
            self = .string(text)
        } else if let values = try? container.decode([JSONValue].self) {
            self = .array(values)
        } else if let members = try? container.decode([String: JSONValue].self) {
            self = .object(members.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
        } else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "not a JSON value"))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .object(let members):
            var container = encoder.container(keyedBy: NameKey.self)
            for member in members { try container.encode(member.value, forKey: NameKey(member.key)) }
        case .array(let values):
            var container = encoder.unkeyedContainer()
            for value in values { try container.encode(value) }
        case .string(let text):
            var container = encoder.singleValueContainer()
            try container.encode(text)
        case .number(let text):
            var container = encoder.singleValueContainer()
            if let integer = Int64(text) {
                try container.encode(integer)
            } else {
                try container.encode(Double(text) ?? 0)
            }
        case .bool(let flag):
            var container = encoder.singleValueContainer()
            try container.encode(flag)
        case .null:
            var container = encoder.singleValueContainer()
            try container.encodeNil()
        }
    }
}

/// The coding key of an object member, by name.
struct NameKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ name: String) { stringValue = name }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// Settings that a file gives in part: the members it names replace those of the defaults, the others keep theirs.
///
/// `Fields` is a plain `Codable` struct (every member required, as Swift synthesizes it); `decode` encodes the
/// defaults, lays the input's members over them and decodes the result, so a settings type lists its fields once and
/// old files missing newer fields still load.
public enum PartialSettings {
    /// The fields of `input` (a JSON object) over `defaults`.
    ///
    /// - Parameter unknown: the error for a member `Fields` does not have, given its name and the known names.
    public static func decode<Fields: Codable>(
        _ input: JSONValue, over defaults: Fields, unknown: (String, [String]) -> any Error
    ) throws -> Fields {
        guard case .object(let changes) = input else {
            throw DecodingError.typeMismatch(
                [String: JSONValue].self,
                .init(
                    codingPath: [], debugDescription: "expected an object of settings, found a JSON \(input.typeName)"))
        }
        guard case .object(var members) = try JSONValueEncoder().encode(defaults) else {
            preconditionFailure("settings encode as an object")
        }
        for change in changes {
            guard let index = members.firstIndex(where: { $0.key == change.key }) else {
                throw unknown(change.key, members.map(\.key))
            }
            members[index].value = change.value
        }
        return try JSONValueDecoder().decode(Fields.self, from: .object(members))
    }
}
