/// Element types of the safetensors format, spelled as in the header.
///
/// Declared in the reference implementation's order ("increasing alignment"): its writer sorts tensors by
/// descending position in this list, so `SafetensorsHeader.encode` relies on it.
// swift-format-ignore: AlwaysUseLowerCamelCase
public enum DType: String, CaseIterable, Sendable, Codable, Comparable {
    case BOOL, F4, F6_E2M3, F6_E3M2, U8, I8, F8_E5M2, F8_E4M3, F8_E8M0, F8_E4M3FNUZ, F8_E5M2FNUZ
    case I16, U16, F16, BF16, I32, U32, F32, C64, F64, I64, U64

    /// Bits per element (4 and 6 for the packed MX float formats).
    public var bitsPerElement: Int {
        switch self {
        case .F4: return 4
        case .F6_E2M3, .F6_E3M2: return 6
        case .BOOL, .U8, .I8, .F8_E5M2, .F8_E4M3, .F8_E8M0, .F8_E4M3FNUZ, .F8_E5M2FNUZ: return 8
        case .I16, .U16, .F16, .BF16: return 16
        case .I32, .U32, .F32: return 32
        case .C64, .F64, .I64, .U64: return 64
        }
    }

    /// Whether the elements are floating-point numbers (byte grouping in the store applies to these).
    public var isFloatingPoint: Bool {
        switch self {
        case .BOOL, .U8, .I8, .I16, .U16, .I32, .U32, .I64, .U64: return false
        default: return true
        }
    }

    /// Bytes of one floating-point component (a complex number has two): the width by which a store splits a
    /// tensor into byte planes; 1 for integers and for formats narrower than a byte.
    public var componentBytes: Int {
        switch self {
        case .F16, .BF16: return 2
        case .F32, .C64: return 4
        case .F64: return 8
        default: return 1
        }
    }

    private var order: Int { Self.allCases.firstIndex(of: self) ?? 0 }
    public static func < (a: DType, b: DType) -> Bool { a.order < b.order }

    /// Bytes of `shape` elements of this type; nil when the product overflows or packs into a partial byte.
    public func byteCount(shape: [UInt64]) -> UInt64? {
        var bits = UInt64(bitsPerElement)
        for dimension in shape {
            let (product, overflow) = bits.multipliedReportingOverflow(by: dimension)
            if overflow { return nil }
            bits = product
        }
        return bits % 8 == 0 ? bits / 8 : nil
    }
}

/// Name, element type, shape and size of one tensor, whatever the file format.
public struct TensorDescriptor: Hashable, Sendable {
    public var name: String
    /// The safetensors spelling for types it has (`F32`, `BF16`, `BOOL`, ...); a descriptive name otherwise.
    public var dtype: String
    public var shape: [UInt64]
    public var byteCount: UInt64

    public init(name: String, dtype: String, shape: [UInt64], byteCount: UInt64) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.byteCount = byteCount
    }
}
