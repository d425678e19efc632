import PBRCore

/// Writes one safetensors file from header bytes and tensor data, streaming and atomically.
///
/// The header bytes are written verbatim, so a file rebuilt from its original header and its tensors' bytes is
/// byte-for-byte the original. Data is appended in data-section order (`header.tensorsInDataOrder`) in pieces of
/// any size; memory use is one 1 MiB buffer whatever the file size. Nothing appears at the destination unless
/// `commit()` succeeds after exactly `header.dataLength` bytes of data.
public final class SafetensorsWriter {
    public let header: SafetensorsHeader
    private let file: AtomicFile
    private var written: UInt64 = 0

    /// Starts a file at `path` with an already validated header.
    public init(path: String, header: SafetensorsHeader) throws(TensorFileError) {
        self.header = header
        file = try fileOperation { () throws(FileError) in try AtomicFile(destination: path) }
        try fileOperation { () throws(FileError) in try file.write(header.prefixBytes) }
    }

    /// Starts a file at `path` whose header is `json` (validated here: a writer never produces a file its own
    /// reader refuses).
    public convenience init(path: String, headerJSON json: [UInt8]) throws(TensorFileError) {
        guard UInt64(json.count) <= SafetensorsHeader.maximumLength else {
            throw TensorFileError(.headerTooLarge, path: path, "header of \(json.count) bytes exceeds the limit")
        }
        try self.init(path: path, header: try SafetensorsHeader.parse(json: json, availableData: nil, path: path))
    }

    /// Appends the next bytes of the data section.
    public func write(_ bytes: UnsafeRawBufferPointer) throws(TensorFileError) {
        guard written + UInt64(bytes.count) <= header.dataLength else {
            throw TensorFileError(
                .sizeMismatch, path: file.destination,
                "more data than the header describes (\(written + UInt64(bytes.count)) > \(header.dataLength) bytes)")
        }
        try fileOperation { () throws(FileError) in try file.write(bytes) }
        written += UInt64(bytes.count)
    }

    public func write(_ bytes: [UInt8]) throws(TensorFileError) {
        try withBytes(bytes) { (raw) throws(TensorFileError) in try write(raw) }
    }

    /// Checks the data is complete, then makes the file durable and moves it into place.
    public func commit() throws(TensorFileError) {
        guard written == header.dataLength else {
            throw TensorFileError(
                .truncated, path: file.destination,
                "only \(written) of \(header.dataLength) data bytes were written; the file was not created")
        }
        try fileOperation { () throws(FileError) in _ = try file.commit() }
    }
}

extension SafetensorsWriter {
    /// Writes a new file as the reference writer would lay it out (see `SafetensorsHeader.encode`).
    ///
    /// - Parameter tensors: each tensor's name, dtype, shape and bytes (C order, little-endian).
    public static func write(
        path: String, tensors: [(name: String, dtype: DType, shape: [UInt64], bytes: [UInt8])],
        metadata: [(key: String, value: String)]? = nil
    ) throws(TensorFileError) {
        let header = try SafetensorsHeader.encode(
            tensors: tensors.map { ($0.name, $0.dtype, $0.shape) }, metadata: metadata)
        var byName: [String: [UInt8]] = [:]
        for tensor in tensors { byName[tensor.name] = tensor.bytes }
        let writer = try SafetensorsWriter(path: path, header: header)
        for tensor in header.tensorsInDataOrder {
            let bytes = byName[tensor.name] ?? []
            guard UInt64(bytes.count) == tensor.byteCount else {
                throw TensorFileError(
                    .sizeMismatch, path: path,
                    "tensor \"\(tensor.name)\": \(bytes.count) bytes given for shape \(tensor.shape) of \(tensor.dtype.rawValue)"
                )
            }
            try writer.write(bytes)
        }
        try writer.commit()
    }
}
