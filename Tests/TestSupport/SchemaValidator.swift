public import Foundation

/// A JSON Schema (2020-12) validator for the keywords `docs/manifest.schema.json` uses: type, const, enum,
/// required, properties, additionalProperties (false), items, minItems, minLength, minimum, pattern.
///
/// It reads documents with Foundation's `JSONSerialization`, not with the project's parser, so that the contract
/// test checks the project's writers and reader against the schema and not against themselves. Keywords it does
/// not know make it fail rather than pass silently.
public struct SchemaValidator: @unchecked Sendable {
    // @unchecked: the parsed schema is immutable after init.
    private let schema: [String: Any]
    static let known: Set<String> = [
        "$schema", "$id", "title", "description", "type", "const", "enum", "required", "properties",
        "additionalProperties", "items", "minItems", "minLength", "minimum", "pattern",
    ]

    public init(schemaFile path: String) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        guard let schema = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw SchemaViolation(path: "", message: "the schema is not an object")
        }
        self.schema = schema
    }

    /// Every violation of the document's text (empty when it is valid).
    public func violations(ofJSON data: Data) throws -> [SchemaViolation] {
        let document = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
        var found: [SchemaViolation] = []
        check(document, against: schema, at: "", into: &found)
        return found
    }

    private func check(
        _ value: Any, against schema: [String: Any], at path: String, into found: inout [SchemaViolation]
    ) {
        func fail(_ message: String) {
            found.append(SchemaViolation(path: path.isEmpty ? "(root)" : path, message: message))
        }
        for key in schema.keys where !Self.known.contains(key) { fail("schema keyword \(key) is not supported") }
        if let type = schema["type"] as? String, !Self.has(value, type: type) { return fail("not of type \(type)") }
        if let constant = schema["const"], !Self.equal(value, constant) { fail("is not \(constant)") }
        if let options = schema["enum"] as? [Any], !options.contains(where: { Self.equal(value, $0) }) {
            fail("is not one of \(options)")
        }
        if let object = value as? [String: Any] {
            for key in schema["required"] as? [String] ?? [] where object[key] == nil { fail("lacks required \(key)") }
            let properties = schema["properties"] as? [String: Any] ?? [:]
            for (key, member) in object {
                if let sub = properties[key] as? [String: Any] {
                    check(member, against: sub, at: path + "." + key, into: &found)
                } else if schema["additionalProperties"] as? Bool == false {
                    fail("has member \(key), which the schema does not allow")
                }
            }
        }
        if let array = value as? [Any], !(value is [String: Any]) {
            if let minimum = schema["minItems"] as? Int, array.count < minimum {
                fail("has fewer than \(minimum) items")
            }
            if let items = schema["items"] as? [String: Any] {
                for (index, item) in array.enumerated() {
                    check(item, against: items, at: path + "[\(index)]", into: &found)
                }
            }
        }
        if let text = value as? String {
            if let minimum = schema["minLength"] as? Int, text.count < minimum { fail("is shorter than \(minimum)") }
            if let pattern = schema["pattern"] as? String,
                text.range(of: pattern, options: .regularExpression) == nil
            {
                fail("\"\(text)\" does not match \(pattern)")
            }
        }
        if let minimum = schema["minimum"] as? Double, let number = Self.number(value), number < minimum {
            fail("is below \(minimum)")
        }
    }

    static func number(_ value: Any) -> Double? {
        guard let number = value as? NSNumber, !isBoolean(number) else { return nil }
        return number.doubleValue
    }

    /// Foundation on Linux gives JSON booleans as `__NSCFBoolean` and numbers as `NSNumber`, and bridges either to
    /// `Bool`, so the class is the only reliable test.
    static func isBoolean(_ number: NSNumber) -> Bool { String(describing: type(of: number)) == "__NSCFBoolean" }

    static func has(_ value: Any, type: String) -> Bool {
        switch type {
        case "object": return value is [String: Any]
        case "array": return value is [Any] && !(value is [String: Any])
        case "string": return value is String
        case "boolean": return (value as? NSNumber).map(isBoolean) ?? false
        case "number": return number(value) != nil
        // JSON Schema: an integer is a number with a zero fractional part (3e8 is one).
        case "integer": return number(value).map { $0.rounded() == $0 } ?? false
        default: return false
        }
    }

    static func equal(_ a: Any, _ b: Any) -> Bool {
        if let a = a as? String, let b = b as? String { return a == b }
        if let a = number(a), let b = number(b) { return a == b }
        return false
    }
}

public struct SchemaViolation: Error, CustomStringConvertible, Sendable {
    public var path: String
    public var message: String
    public var description: String { "\(path): \(message)" }
}
