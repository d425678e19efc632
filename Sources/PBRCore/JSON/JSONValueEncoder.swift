/// Encodes `Encodable` values into a `JSONValue`, keeping object members in the order the value encodes them.
///
/// This is the project's one JSON writer: together with `JSONValue.prettyPrinted`/`serialized` it replaces
/// Foundation's `JSONEncoder`, whose key order and layout are not the project's file formats, and string building,
/// which does not escape. Doubles are written in Swift's shortest round-tripping form, NaN and infinities as `null`
/// (JSON cannot write them); integers exactly; `nil` optionals are left out as `encodeIfPresent` asks.
public struct JSONValueEncoder {
    public init() {}

    public func encode(_ value: some Encodable) throws -> JSONValue {
        try EncodingNode.encode(value, codingPath: []).value
    }
}

/// A value being built; containers keep a reference to the nodes they fill, so nested containers write through.
private final class EncodingNode {
    enum Content {
        case none
        case value(JSONValue)
        case object(keys: [String], nodes: [String: EncodingNode])
        case array([EncodingNode])
    }

    var content: Content = .none

    var value: JSONValue {
        switch content {
        case .none: return .object([JSONValue.Member]())
        case .value(let value): return value
        case .object(let keys, let nodes): return .object(keys.map { ($0, nodes[$0]?.value ?? .null) })
        case .array(let nodes): return .array(nodes.map(\.value))
        }
    }

    func child(forKey key: String) -> EncodingNode {
        if case .none = content { content = .object(keys: [], nodes: [:]) }
        guard case .object(var keys, var nodes) = content else {
            preconditionFailure("a keyed container was asked of a value that is not an object")
        }
        if let existing = nodes[key] { return existing }
        // Released first, so that the arrays below are uniquely referenced and grow in place (not copied per member).
        content = .none
        let node = EncodingNode()
        keys.append(key)
        nodes[key] = node
        content = .object(keys: keys, nodes: nodes)
        return node
    }

    func appendChild() -> EncodingNode {
        if case .none = content { content = .array([]) }
        guard case .array(var nodes) = content else {
            preconditionFailure("an unkeyed container was asked of a value that is not an array")
        }
        content = .none  // as in child(forKey:): appending stays linear
        let node = EncodingNode()
        nodes.append(node)
        content = .array(nodes)
        return node
    }

    var count: Int {
        switch content {
        case .array(let nodes): return nodes.count
        case .object(let keys, _): return keys.count
        default: return 0
        }
    }

    /// Primitives become JSON scalars here; anything else encodes itself into a fresh node.
    static func encode(_ value: some Encodable, codingPath: [any CodingKey]) throws -> EncodingNode {
        let node = EncodingNode()
        if let scalar = scalar(value) {
            node.content = .value(scalar)
        } else {
            try value.encode(to: NodeEncoder(node: node, codingPath: codingPath))
        }
        return node
    }

    static func scalar(_ value: some Encodable) -> JSONValue? {
        switch value {
        case let value as String: return .string(value)
        case let value as Bool: return .bool(value)
        case let value as Double: return .number(value)
        case let value as Float: return .number(Double(value))
        case let value as Int: return .number(value)
        case let value as Int8: return .number(value)
        case let value as Int16: return .number(value)
        case let value as Int32: return .number(value)
        case let value as Int64: return .number(value)
        case let value as UInt: return .number(value)
        case let value as UInt8: return .number(value)
        case let value as UInt16: return .number(value)
        case let value as UInt32: return .number(value)
        case let value as UInt64: return .number(value)
        case let value as JSONValue: return value
        default: return nil
        }
    }
}

private struct NodeEncoder: Encoder {
    let node: EncodingNode
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        if case .none = node.content { node.content = .object(keys: [], nodes: [:]) }
        return KeyedEncodingContainer(KeyedNodeContainer<Key>(node: node, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        if case .none = node.content { node.content = .array([]) }
        return UnkeyedNodeContainer(node: node, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        SingleNodeContainer(node: node, codingPath: codingPath)
    }
}

private struct KeyedNodeContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let node: EncodingNode
    let codingPath: [any CodingKey]

    mutating func encodeNil(forKey key: Key) throws { node.child(forKey: key.stringValue).content = .value(.null) }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        let encoded = try EncodingNode.encode(value, codingPath: codingPath + [key])
        node.child(forKey: key.stringValue).content = encoded.content
    }

    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy keyType: NestedKey.Type, forKey key: Key
    ) -> KeyedEncodingContainer<NestedKey> {
        let child = node.child(forKey: key.stringValue)
        return NodeEncoder(node: child, codingPath: codingPath + [key]).container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        NodeEncoder(node: node.child(forKey: key.stringValue), codingPath: codingPath + [key]).unkeyedContainer()
    }

    mutating func superEncoder() -> any Encoder {
        NodeEncoder(node: node.child(forKey: "super"), codingPath: codingPath)
    }

    mutating func superEncoder(forKey key: Key) -> any Encoder {
        NodeEncoder(node: node.child(forKey: key.stringValue), codingPath: codingPath + [key])
    }
}

private struct UnkeyedNodeContainer: UnkeyedEncodingContainer {
    let node: EncodingNode
    let codingPath: [any CodingKey]
    var count: Int { node.count }

    mutating func encodeNil() throws { node.appendChild().content = .value(.null) }

    mutating func encode<T: Encodable>(_ value: T) throws {
        let encoded = try EncodingNode.encode(value, codingPath: codingPath + [IndexKey(count)])
        node.appendChild().content = encoded.content
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<
        NestedKey
    > {
        let path = codingPath + [IndexKey(count)]
        return NodeEncoder(node: node.appendChild(), codingPath: path).container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let path = codingPath + [IndexKey(count)]
        return NodeEncoder(node: node.appendChild(), codingPath: path).unkeyedContainer()
    }

    mutating func superEncoder() -> any Encoder {
        let path = codingPath + [IndexKey(count)]
        return NodeEncoder(node: node.appendChild(), codingPath: path)
    }
}

private struct SingleNodeContainer: SingleValueEncodingContainer {
    let node: EncodingNode
    let codingPath: [any CodingKey]

    mutating func encodeNil() throws { node.content = .value(.null) }

    mutating func encode<T: Encodable>(_ value: T) throws {
        node.content = try EncodingNode.encode(value, codingPath: codingPath).content
    }
}

/// The coding key of an array element.
struct IndexKey: CodingKey {
    var intValue: Int?
    var stringValue: String { intValue.map(String.init) ?? "" }
    init(_ index: Int) { intValue = index }
    init?(stringValue: String) { nil }
    init?(intValue: Int) { self.intValue = intValue }
}
