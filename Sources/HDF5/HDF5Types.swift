/// A complete description of an HDF5 datatype: enough to recreate it in another file with the same
/// class, size, byte order, sign, bit fields, tag, character set and padding.
///
/// Debian's libhdf5 1.10 predefines no float16 or bfloat16; such types are described (and recreated) by their
/// bit fields, so nothing is ever converted.
public struct HDF5Datatype: Hashable, Sendable, Codable {
    public enum TypeClass: String, Sendable, Codable {
        case integer, float, string, bitfield, opaque, enumeration, compound, reference, array, variableLength, time
    }

    public enum ByteOrder: String, Sendable, Codable { case littleEndian, bigEndian, none }

    /// Bit layout of a floating-point type (`H5Tget_fields`, `H5Tget_ebias`).
    public struct FloatFields: Hashable, Sendable, Codable {
        public var signPosition: Int
        public var exponentPosition: Int
        public var exponentSize: Int
        public var mantissaPosition: Int
        public var mantissaSize: Int
        public var exponentBias: Int

        public init(
            signPosition: Int, exponentPosition: Int, exponentSize: Int, mantissaPosition: Int, mantissaSize: Int,
            exponentBias: Int
        ) {
            self.signPosition = signPosition
            self.exponentPosition = exponentPosition
            self.exponentSize = exponentSize
            self.mantissaPosition = mantissaPosition
            self.mantissaSize = mantissaSize
            self.exponentBias = exponentBias
        }

        public static let ieeeHalf = FloatFields(
            signPosition: 15, exponentPosition: 10, exponentSize: 5, mantissaPosition: 0, mantissaSize: 10,
            exponentBias: 15)
        public static let bfloat16 = FloatFields(
            signPosition: 15, exponentPosition: 7, exponentSize: 8, mantissaPosition: 0, mantissaSize: 7,
            exponentBias: 127)
        public static let ieeeSingle = FloatFields(
            signPosition: 31, exponentPosition: 23, exponentSize: 8, mantissaPosition: 0, mantissaSize: 23,
            exponentBias: 127)
        public static let ieeeDouble = FloatFields(
            signPosition: 63, exponentPosition: 52, exponentSize: 11, mantissaPosition: 0, mantissaSize: 52,
            exponentBias: 1023)
    }

    /// How a string type stores its text (`H5Tget_cset`, `H5Tget_strpad`, `H5Tis_variable_str`).
    public struct StringFormat: Hashable, Sendable, Codable {
        public var variableLength: Bool
        public var utf8: Bool
        /// 0 = null-terminated, 1 = null-padded, 2 = space-padded (`H5T_str_t`).
        public var padding: Int

        public init(variableLength: Bool, utf8: Bool, padding: Int) {
            self.variableLength = variableLength
            self.utf8 = utf8
            self.padding = padding
        }
    }

    public var typeClass: TypeClass
    /// Bytes per element (for variable-length strings: the size of the in-memory pointer).
    public var size: Int
    public var byteOrder: ByteOrder
    /// Integers and enumerations: whether signed (two's complement).
    public var signed: Bool
    /// Bits of precision and their offset inside the element (`H5Tget_precision`, `H5Tget_offset`).
    public var precision: Int
    public var bitOffset: Int
    public var floatFields: FloatFields?
    public var string: StringFormat?
    /// Opaque types: the tag (Keras writes bfloat16 as an opaque 2-byte type with an empty tag).
    public var opaqueTag: String?
    /// Enumerations: the base integer type and the members (name, value bytes of the base type).
    public var enumBase: IntegerBase?
    public var enumMembers: [EnumMember]

    public struct IntegerBase: Hashable, Sendable, Codable {
        public var size: Int
        public var signed: Bool
        public var byteOrder: ByteOrder
    }

    public struct EnumMember: Hashable, Sendable, Codable {
        public var name: String
        public var value: [UInt8]
    }

    public init(
        typeClass: TypeClass, size: Int, byteOrder: ByteOrder = .littleEndian, signed: Bool = false,
        precision: Int? = nil, bitOffset: Int = 0, floatFields: FloatFields? = nil, string: StringFormat? = nil,
        opaqueTag: String? = nil, enumBase: IntegerBase? = nil, enumMembers: [EnumMember] = []
    ) {
        self.typeClass = typeClass
        self.size = size
        self.byteOrder = byteOrder
        self.signed = signed
        self.precision = precision ?? size * 8
        self.bitOffset = bitOffset
        self.floatFields = floatFields
        self.string = string
        self.opaqueTag = opaqueTag
        self.enumBase = enumBase
        self.enumMembers = enumMembers
    }

    public static func integer(bytes: Int, signed: Bool, byteOrder: ByteOrder = .littleEndian) -> HDF5Datatype {
        HDF5Datatype(typeClass: .integer, size: bytes, byteOrder: byteOrder, signed: signed)
    }

    public static func float(_ fields: FloatFields, bytes: Int, byteOrder: ByteOrder = .littleEndian) -> HDF5Datatype {
        HDF5Datatype(typeClass: .float, size: bytes, byteOrder: byteOrder, floatFields: fields)
    }

    /// h5py's bool: an 8-bit signed enumeration FALSE = 0, TRUE = 1.
    public static let h5pyBool = HDF5Datatype(
        typeClass: .enumeration, size: 1, byteOrder: .none, signed: true,
        enumBase: IntegerBase(size: 1, signed: true, byteOrder: .littleEndian),
        enumMembers: [EnumMember(name: "FALSE", value: [0]), EnumMember(name: "TRUE", value: [1])])

    /// Whether elements are plain fixed-size bytes that can be read and written with the type itself as the
    /// memory type (everything but variable-length data and references).
    public var isFixedSizeData: Bool {
        switch typeClass {
        case .integer, .float, .bitfield, .opaque, .enumeration, .compound, .array, .time: return true
        case .string: return string?.variableLength == false
        case .reference, .variableLength: return false
        }
    }
}

/// The shape of a dataset or attribute.
public struct HDF5Dataspace: Hashable, Sendable, Codable {
    public enum Kind: String, Sendable, Codable { case scalar, simple, null }
    public var kind: Kind
    public var dimensions: [UInt64]
    /// `nil` entries are unlimited.
    public var maximumDimensions: [UInt64?]

    public init(kind: Kind, dimensions: [UInt64] = [], maximumDimensions: [UInt64?]? = nil) {
        self.kind = kind
        self.dimensions = dimensions
        self.maximumDimensions = maximumDimensions ?? dimensions.map { Optional($0) }
    }

    public static let scalar = HDF5Dataspace(kind: .scalar)
    public static func simple(_ dimensions: [UInt64]) -> HDF5Dataspace {
        HDF5Dataspace(kind: .simple, dimensions: dimensions)
    }

    /// Number of elements (1 for a scalar, 0 for null); nil when the product overflows.
    public var elementCount: UInt64? {
        switch kind {
        case .null: return 0
        case .scalar: return 1
        case .simple:
            var count: UInt64 = 1
            for dimension in dimensions {
                let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
                if overflow { return nil }
                count = product
            }
            return count
        }
    }
}

/// How a dataset's raw data is stored.
public struct HDF5Layout: Hashable, Sendable, Codable {
    public enum Kind: String, Sendable, Codable { case compact, contiguous, chunked, virtual }

    public struct Filter: Hashable, Sendable, Codable {
        /// 1 deflate, 2 shuffle, 3 fletcher32, 4 szip, 5 nbit, 6 scale-offset; ≥ 256 are plugins.
        public var id: Int
        public var flags: UInt32
        public var clientData: [UInt32]
        public var name: String

        public init(id: Int, flags: UInt32, clientData: [UInt32], name: String) {
            self.id = id
            self.flags = flags
            self.clientData = clientData
            self.name = name
        }
    }

    public var kind: Kind
    public var chunkDimensions: [UInt64]
    public var filters: [Filter]

    public init(kind: Kind, chunkDimensions: [UInt64] = [], filters: [Filter] = []) {
        self.kind = kind
        self.chunkDimensions = chunkDimensions
        self.filters = filters
    }

    public static let contiguous = HDF5Layout(kind: .contiguous)
}

/// An attribute's value: text for string types, raw element bytes (in the attribute's own datatype) otherwise.
public enum HDF5AttributeValue: Hashable, Sendable {
    case strings([String])
    case raw([UInt8])
}

/// A named attribute with its exact type and shape.
public struct HDF5Attribute: Hashable, Sendable {
    public var name: String
    public var datatype: HDF5Datatype
    public var dataspace: HDF5Dataspace
    public var value: HDF5AttributeValue

    public init(name: String, datatype: HDF5Datatype, dataspace: HDF5Dataspace, value: HDF5AttributeValue) {
        self.name = name
        self.datatype = datatype
        self.dataspace = dataspace
        self.value = value
    }

    /// The text of each element of a string attribute (variable or fixed length, padding removed); nil for
    /// non-string attributes.
    public var strings: [String]? {
        switch value {
        case .strings(let values): return values
        case .raw(let bytes):
            guard datatype.typeClass == .string, let format = datatype.string, datatype.size > 0 else { return nil }
            return stride(from: 0, to: bytes.count, by: datatype.size).map { start in
                var element = bytes[start..<min(start + datatype.size, bytes.count)]
                if format.padding == 2 {
                    while element.last == 0x20 { element.removeLast() }
                } else if let end = element.firstIndex(of: 0) {
                    element = element[..<end]
                }
                return String(decoding: element, as: UTF8.self)
            }
        }
    }
}

/// A dataset's description, without its data.
public struct HDF5DatasetInfo: Hashable, Sendable {
    public var path: String
    public var datatype: HDF5Datatype
    public var dataspace: HDF5Dataspace
    public var layout: HDF5Layout
    /// Absolute byte offset of the raw data in the file, for contiguous allocated datasets (`H5Dget_offset`).
    public var fileOffset: UInt64?
    /// Bytes the raw data occupies in the file (`H5Dget_storage_size`): compressed size for filtered data.
    public var storageSize: UInt64
    public var attributes: [HDF5Attribute]

    public init(
        path: String, datatype: HDF5Datatype, dataspace: HDF5Dataspace, layout: HDF5Layout, fileOffset: UInt64? = nil,
        storageSize: UInt64 = 0, attributes: [HDF5Attribute] = []
    ) {
        self.path = path
        self.datatype = datatype
        self.dataspace = dataspace
        self.layout = layout
        self.fileOffset = fileOffset
        self.storageSize = storageSize
        self.attributes = attributes
    }

    /// Bytes of the data in memory: element count × element size; nil on overflow.
    public var byteCount: UInt64? {
        guard let count = dataspace.elementCount else { return nil }
        let (bytes, overflow) = count.multipliedReportingOverflow(by: UInt64(datatype.size))
        return overflow ? nil : bytes
    }
}

/// One node of a file's object tree, in the order the tree walk met it (depth first, links by name).
public enum HDF5Node: Hashable, Sendable {
    case group(path: String, attributes: [HDF5Attribute])
    case dataset(HDF5DatasetInfo)

    public var path: String {
        switch self {
        case .group(let path, _): return path
        case .dataset(let info): return info.path
        }
    }

    public var attributes: [HDF5Attribute] {
        switch self {
        case .group(_, let attributes): return attributes
        case .dataset(let info): return info.attributes
        }
    }
}
