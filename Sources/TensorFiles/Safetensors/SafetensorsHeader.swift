import PBRCore

/// One tensor entry of a safetensors header.
public struct SafetensorsTensor: Hashable, Sendable {
    public var name: String
    public var dtype: DType
    public var shape: [UInt64]
    /// Byte range relative to the start of the data section.
    public var begin: UInt64
    public var end: UInt64

    public init(name: String, dtype: DType, shape: [UInt64], begin: UInt64, end: UInt64) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.begin = begin
        self.end = end
    }

    public var byteCount: UInt64 { end - begin }
    public var descriptor: TensorDescriptor {
        TensorDescriptor(name: name, dtype: dtype.rawValue, shape: shape, byteCount: byteCount)
    }
}

/// A parsed and validated safetensors header.
///
/// The header's own bytes are what a faithful rewrite uses (`json`); the parsed fields are for reading. Layout of
/// a file: `u64 little-endian N`, then N bytes of UTF-8 JSON (possibly padded with whitespace), then the data
/// section, which the tensors' `data_offsets` cover exactly, without holes or overlaps.
public struct SafetensorsHeader: Sendable {
    /// The reference implementation's limit on N.
    public static let maximumLength: UInt64 = 100_000_000

    /// The N header bytes, verbatim (padding included).
    public var json: [UInt8]
    /// `__metadata__` in file order; nil when the key is absent (an empty map is kept apart from a missing one).
    public var metadata: [(key: String, value: String)]?
    /// Tensors in header order.
    public var tensors: [SafetensorsTensor]
    /// Tensors ordered by data offset: the order of their bytes in the data section.
    public var tensorsInDataOrder: [SafetensorsTensor]
    /// Bytes of the data section the tensors cover.
    public var dataLength: UInt64

    /// The bytes that precede the data section: the 8-byte length, then the header.
    public var prefixBytes: [UInt8] {
        let length = UInt64(json.count)
        return (0..<8).map { UInt8(truncatingIfNeeded: length >> (8 * $0)) } + json
    }

    /// Parses and validates header bytes.
    ///
    /// - Parameters:
    ///   - json: the N header bytes.
    ///   - availableData: bytes present after the header in the file, if known; the tensors must cover them
    ///     exactly.
    ///   - path: the file, for messages.
    /// - Throws: `TensorFileError` whose code says which rule the header breaks, and whose message names the tensor.
    public static func parse(json: [UInt8], availableData: UInt64?, path: String) throws(TensorFileError)
        -> SafetensorsHeader
    {
        func fail(_ code: TensorFileError.Code, _ message: String) -> TensorFileError {
            TensorFileError(code, path: path, message)
        }
        var decoder = UTF8.ForwardParser()
        var iterator = json.makeIterator()
        var offset = 0
        decodeLoop: while true {
            switch decoder.parseScalar(from: &iterator) {
            case .valid(let scalar): offset += scalar.count
            case .emptyInput: break decodeLoop
            case .error(let length):
                throw fail(
                    .invalidUTF8,
                    "header is not valid UTF-8 (bad byte sequence at header byte \(offset), \(length) bytes)")
            }
        }
        let root: JSONValue
        do {
            root = try StrictJSONParser.parse(json)
        } catch {
            if let key = error.duplicateKey {
                let what = error.message.hasPrefix("duplicate") ? "duplicate name \"\(key)\"" : error.message
                throw fail(.duplicateName, "\(what) in header (at header byte \(error.offset))")
            }
            throw fail(.invalidJSON, "header is not valid JSON: \(error)")
        }
        guard case .object(let members) = root else {
            throw fail(.invalidHeader, "header is a JSON \(root.typeName), not an object")
        }
        var metadata: [(key: String, value: String)]?
        var tensors: [SafetensorsTensor] = []
        for member in members {
            if member.key == "__metadata__" {
                guard case .object(let entries) = member.value else {
                    throw fail(
                        .invalidHeader, "__metadata__ is a JSON \(member.value.typeName), not an object of strings")
                }
                metadata = []
                for entry in entries {
                    guard let text = entry.value.stringValue else {
                        throw fail(
                            .invalidHeader,
                            "__metadata__ value of \"\(entry.key)\" is a JSON \(entry.value.typeName); values must be strings"
                        )
                    }
                    metadata?.append((entry.key, text))
                }
                continue
            }
            tensors.append(try parseTensor(member, fail))
        }
        let ordered = tensors.enumerated().sorted {
            ($0.element.begin, $0.element.end, $0.offset) < ($1.element.begin, $1.element.end, $1.offset)
        }.map(\.element)
        var expected: UInt64 = 0
        var previous: SafetensorsTensor?
        for tensor in ordered {
            if tensor.begin > expected {
                let after = previous.map { " (after tensor \"\($0.name)\")" } ?? ""
                throw fail(
                    .hole,
                    "data bytes [\(expected), \(tensor.begin)) belong to no tensor\(after): hole before tensor \"\(tensor.name)\""
                )
            }
            if tensor.begin < expected, let previous {
                throw fail(
                    .overlappingOffsets,
                    "overlapping data_offsets for tensor \"\(tensor.name)\" [\(tensor.begin), \(tensor.end)) and tensor \"\(previous.name)\" [\(previous.begin), \(previous.end))"
                )
            }
            guard let needed = tensor.dtype.byteCount(shape: tensor.shape) else {
                throw fail(
                    .sizeMismatch,
                    "tensor \"\(tensor.name)\": shape \(tensor.shape) of \(tensor.dtype.rawValue) overflows or does not fill whole bytes"
                )
            }
            if needed != tensor.byteCount {
                throw fail(
                    .sizeMismatch,
                    "tensor \"\(tensor.name)\": shape \(tensor.shape) of \(tensor.dtype.rawValue) needs \(needed) bytes but data_offsets [\(tensor.begin), \(tensor.end)) hold \(tensor.byteCount)"
                )
            }
            expected = tensor.end
            previous = tensor
        }
        if let availableData {
            if expected > availableData {
                throw fail(
                    .truncated,
                    "file truncated: tensors need \(expected) data bytes (up to the end of \"\(previous?.name ?? "")\") but the file holds \(availableData)"
                )
            }
            if expected < availableData {
                throw fail(
                    .trailingBytes,
                    "\(availableData - expected) bytes after the last tensor belong to no tensor (data section \(availableData) bytes, tensors cover \(expected))"
                )
            }
        }
        return SafetensorsHeader(
            json: json, metadata: metadata, tensors: tensors, tensorsInDataOrder: ordered, dataLength: expected)
    }

    private static func parseTensor(
        _ member: JSONValue.Member, _ fail: (TensorFileError.Code, String) -> TensorFileError
    ) throws(TensorFileError) -> SafetensorsTensor {
        let name = member.key
        guard case .object = member.value else {
            throw fail(
                .invalidHeader, "tensor \"\(name)\" is described by a JSON \(member.value.typeName), not an object")
        }
        guard let dtypeValue = member.value["dtype"], let dtypeText = dtypeValue.stringValue else {
            throw fail(.invalidHeader, "tensor \"\(name)\" has no string \"dtype\"")
        }
        guard let dtype = DType(rawValue: dtypeText) else {
            throw fail(.unknownDType, "tensor \"\(name)\" has unknown dtype \"\(dtypeText)\"")
        }
        guard case .array(let shapeValues) = member.value["shape"] else {
            throw fail(.invalidHeader, "tensor \"\(name)\" has no \"shape\" array")
        }
        var shape: [UInt64] = []
        for value in shapeValues {
            guard let dimension = value.uint64 else {
                throw fail(
                    .invalidHeader, "tensor \"\(name)\": shape entry \(value.serialized) is not a non-negative integer")
            }
            shape.append(dimension)
        }
        guard case .array(let offsetValues) = member.value["data_offsets"], offsetValues.count == 2 else {
            throw fail(.invalidHeader, "tensor \"\(name)\" has no \"data_offsets\" array of two integers")
        }
        guard let begin = offsetValues[0].uint64, let end = offsetValues[1].uint64 else {
            let shown = offsetValues.map(\.serialized).joined(separator: ", ")
            throw fail(.offsetOutOfRange, "tensor \"\(name)\": data_offsets [\(shown)] are not integers in [0, 2^64)")
        }
        guard begin <= end else {
            throw fail(
                .reversedOffsets, "tensor \"\(name)\" has reversed data_offsets [\(begin), \(end)]: end before begin")
        }
        return SafetensorsTensor(name: name, dtype: dtype, shape: shape, begin: begin, end: end)
    }

    /// Builds a header the way the reference writer does: `__metadata__` first (when given), tensors sorted by
    /// descending dtype then byte-wise name, offsets back to back, compact JSON, padded with spaces to a multiple
    /// of 8 bytes.
    ///
    /// - Parameter tensors: name, dtype and shape of each tensor.
    /// - Returns: the header, whose `tensorsInDataOrder` says in which order the writer expects the data.
    public static func encode(
        tensors: [(name: String, dtype: DType, shape: [UInt64])], metadata: [(key: String, value: String)]?
    ) throws(TensorFileError) -> SafetensorsHeader {
        let sorted = tensors.sorted { a, b in
            a.dtype != b.dtype ? a.dtype > b.dtype : Array(a.name.utf8).lexicographicallyPrecedes(Array(b.name.utf8))
        }
        var parts: [String] = []
        if let metadata {
            let entries = metadata.map { JSONValue.quote($0.key) + ":" + JSONValue.quote($0.value) }
            parts.append("\"__metadata__\":{" + entries.joined(separator: ",") + "}")
        }
        var offset: UInt64 = 0
        for tensor in sorted {
            guard let size = tensor.dtype.byteCount(shape: tensor.shape) else {
                throw TensorFileError(
                    .sizeMismatch, path: "", "tensor \"\(tensor.name)\": shape \(tensor.shape) overflows")
            }
            let shape = tensor.shape.map(String.init).joined(separator: ",")
            parts.append(
                JSONValue.quote(tensor.name) + ":{\"dtype\":\"\(tensor.dtype.rawValue)\",\"shape\":[\(shape)],"
                    + "\"data_offsets\":[\(offset),\(offset + size)]}")
            offset += size
        }
        var json = Array(("{" + parts.joined(separator: ",") + "}").utf8)
        json.append(contentsOf: repeating(0x20, count: (8 - json.count % 8) % 8))
        return try parse(json: json, availableData: offset, path: "")
    }
}

private func repeating(_ byte: UInt8, count: Int) -> [UInt8] { [UInt8](repeating: byte, count: count) }
