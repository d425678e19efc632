public import HDF5
import PBRCore

/// An HDF5 checkpoint (Keras `.h5`, `.weights.h5`, or any HDF5 file of numeric datasets) read through libhdf5.
///
/// Every dataset is a tensor named by its HDF5 path without the leading slash (as h5py's `visititems` names it).
/// Tensor bytes are the dataset's elements in C order, read with the dataset's own type as the memory type, so
/// nothing is converted; only big-endian numbers are swapped to little-endian, the byte order of every tensor
/// pbrepo reports.
public struct HDF5Checkpoint: Sendable {
    public var path: String
    public let file: HDF5File
    /// Groups and datasets, parents before children.
    public let nodes: [HDF5Node]
    /// The datasets of `nodes`, in the same order.
    public let datasets: [HDF5DatasetInfo]

    init(path: String, file: HDF5File, nodes: [HDF5Node]) {
        self.path = path
        self.file = file
        self.nodes = nodes
        self.datasets = nodes.compactMap { if case .dataset(let info) = $0 { info } else { nil } }
    }

    public static func open(_ path: String) throws(TensorFileError) -> HDF5Checkpoint {
        do {
            let file = try HDF5File.open(path)
            return HDF5Checkpoint(path: path, file: file, nodes: try file.nodes())
        } catch let error as HDF5Error {
            throw TensorFileError(.hdf5, path: path, "not a readable HDF5 file: \(error)")
        } catch {
            throw TensorFileError(.hdf5, path: path, "\(error)")
        }
    }

    /// Root attributes (Keras writes `keras_version`, `backend`, `model_config`, ...).
    public var rootAttributes: [HDF5Attribute] { nodes.first?.attributes ?? [] }

    /// The dataset as a tensor: its dtype name (see `dtypeName(of:)`), shape (empty for scalars) and byte size.
    public func descriptor(of info: HDF5DatasetInfo) throws(TensorFileError) -> TensorDescriptor {
        guard info.datatype.isFixedSizeData else {
            throw TensorFileError(
                .unsupported, path: path,
                "dataset \"\(info.path)\" holds variable-length \(info.datatype.typeClass.rawValue) data, not a tensor")
        }
        guard let bytes = info.byteCount else {
            throw TensorFileError(
                .sizeMismatch, path: path, "dataset \"\(info.path)\": shape \(info.dataspace.dimensions) overflows")
        }
        return TensorDescriptor(
            name: info.path, dtype: Self.dtypeName(of: info), shape: info.dataspace.dimensions, byteCount: bytes)
    }

    /// Reads the dataset's elements as little-endian bytes in C order.
    public func readTensor(_ info: HDF5DatasetInfo) throws(TensorFileError) -> [UInt8] {
        _ = try descriptor(of: info)
        do {
            return try file.readDataset(info, as: Self.littleEndianType(of: info))
        } catch {
            throw TensorFileError(.hdf5, path: path, "cannot read dataset \"\(info.path)\": \(error)")
        }
    }

    /// Streams the dataset's little-endian C-order bytes in pieces of at most `pieceBytes` (whole rows), so that
    /// memory stays bounded for datasets of any size.
    public func readTensor(
        _ info: HDF5DatasetInfo, pieceBytes: Int, _ body: (UnsafeRawBufferPointer) throws -> Void
    ) throws {
        _ = try descriptor(of: info)
        do {
            try file.readDataset(info, as: Self.littleEndianType(of: info), pieceBytes: pieceBytes, body)
        } catch let error as HDF5Error {
            throw TensorFileError(.hdf5, path: path, "cannot read dataset \"\(info.path)\": \(error)")
        }
    }

    /// The memory type that reads a big-endian number dataset as little-endian; nil (the stored type) otherwise.
    static func littleEndianType(of info: HDF5DatasetInfo) -> HDF5Datatype? {
        guard info.datatype.byteOrder == .bigEndian, [.integer, .float, .bitfield].contains(info.datatype.typeClass)
        else { return nil }
        var type = info.datatype
        type.byteOrder = .littleEndian
        return type
    }

    /// The safetensors spelling of a dataset's element type where one exists: integers `I8`…`U64`, IEEE floats
    /// `F16`/`F32`/`F64`, bfloat16 `BF16` (as a float type with bfloat16's fields, or as Keras's opaque 2-byte type
    /// with attribute `dtype = "bfloat16"`), h5py's boolean enumeration `BOOL`. Other types get a descriptive name
    /// (`OPAQUE16`, `ENUM8`, `S12` for fixed strings, ...).
    public static func dtypeName(of info: HDF5DatasetInfo) -> String {
        let type = info.datatype
        let plain = type.precision == type.size * 8 && type.bitOffset == 0
        switch type.typeClass {
        case .integer where plain && [1, 2, 4, 8].contains(type.size):
            return (type.signed ? "I" : "U") + String(type.size * 8)
        case .float where plain:
            switch (type.size, type.floatFields) {
            case (2, HDF5Datatype.FloatFields.ieeeHalf?): return "F16"
            case (2, HDF5Datatype.FloatFields.bfloat16?): return "BF16"
            case (4, HDF5Datatype.FloatFields.ieeeSingle?): return "F32"
            case (8, HDF5Datatype.FloatFields.ieeeDouble?): return "F64"
            default: return "FLOAT\(type.size * 8)"
            }
        case .opaque:
            let declared = info.attributes.first { $0.name == "dtype" }?.strings?.first
            if type.size == 2 && declared == "bfloat16" { return "BF16" }
            return "OPAQUE\(type.size * 8)"
        case .enumeration:
            if type == HDF5Datatype.h5pyBool { return "BOOL" }
            return "ENUM\(type.size * 8)"
        case .string: return "S\(type.size)"
        default: return type.typeClass.rawValue.uppercased() + String(type.size * 8)
        }
    }

    /// Writes a new HDF5 file with the same groups, datasets (type, shape, layout, values) and attributes, such that
    /// `h5diff` finds no difference; atomically (temporary file, fsync, rename).
    ///
    /// libhdf5 lays objects out its own way, so the bytes differ while the content is identical. The store does not
    /// use it: it splices, keeping chunked or compressed datasets in the skeleton, and so rebuilds files byte for byte.
    public func rewrite(to destination: String) throws(TensorFileError) {
        let output = try fileOperation { () throws(FileError) in try AtomicFile(destination: destination) }
        do {
            let writer = try HDF5FileWriter(creatingAt: output.temporaryPath, overwrite: true)
            for node in nodes {
                switch node {
                case .group(let groupPath, let attributes):
                    try writer.createGroup(groupPath, attributes: attributes)
                case .dataset(let info):
                    let bytes = try file.readDataset(info)
                    try bytes.withUnsafeBytes { try writer.createDataset(info, data: $0) }
                }
            }
            try writer.close()
        } catch let error as TensorFileError {
            throw error
        } catch {
            throw TensorFileError(.hdf5, path: destination, "cannot write HDF5 copy of \(path): \(error)")
        }
        try fileOperation { () throws(FileError) in _ = try output.commit() }
    }
}
