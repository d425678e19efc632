/// An HDF5 file opened read-only.
///
/// Owns the library's file identifier and closes it when released. Every operation takes the library lock, so a
/// file may be shared between tasks.
public final class HDF5File: @unchecked Sendable {
    // @unchecked: the identifier is set once, released only in deinit, and every use of it holds the library lock.
    public let path: String
    private var handle: OwnedIDBox?

    private init(path: String, handle: consuming OwnedID) {
        self.path = path
        self.handle = OwnedIDBox(handle)
    }

    deinit { _ = try? HDF5Library.locked { handle = nil } }

    private var fileID: Int64 { handle?.id ?? -1 }

    /// Whether the file starts with an HDF5 signature the library accepts.
    public static func isHDF5(_ path: String) -> Bool {
        (try? HDF5Library.locked { isHDF5File(path) }) ?? false
    }

    /// Opens `path` read-only.
    ///
    /// - Throws: `HDF5Error` naming the file when it is missing, unreadable or not an HDF5 file.
    public static func open(_ path: String) throws -> HDF5File {
        try HDF5Library.locked {
            let site = CallSite(file: path, object: "/")
            return HDF5File(path: path, handle: try openFile(path, site))
        }
    }

    /// Every group and dataset reachable by hard links, depth first with links in name order, starting with the
    /// root group (path ""). Paths have no leading slash, as h5py's `visititems` prints them.
    public func nodes() throws -> [HDF5Node] {
        try HDF5Library.locked {
            var nodes: [HDF5Node] = []
            var visited = Set<UInt64>()
            let root = try openObject(fileID, "/", CallSite(file: path, object: "/"))
            try walkGroup(root.id, path: "", CallSite(file: path, object: "/"), visitedGroups: &visited, into: &nodes)
            return nodes
        }
    }

    /// Reads a dataset's elements into `buffer`, which must be exactly as large as the data.
    ///
    /// - Parameter memoryType: the element type to read as; `nil` reads with the dataset's own stored type, so the
    ///   bytes are exactly those stored (no conversion happens, whatever the type). A different byte order converts.
    public func readDataset(
        _ datasetPath: String, as memoryType: HDF5Datatype? = nil, into buffer: UnsafeMutableRawBufferPointer
    ) throws {
        try HDF5Library.locked {
            try readDatasetBytes(
                fileID, path: datasetPath, memoryType: memoryType, into: buffer,
                CallSite(file: path, object: datasetPath))
        }
    }

    /// Reads a dataset piece by piece, each piece whole rows of its first dimension and at most `pieceBytes` long
    /// (or one row, when a row is longer), so memory stays bounded whatever the dataset's size. Scalars and small
    /// datasets come in one piece.
    ///
    /// - Parameter body: called with each piece in order; the buffer is reused between calls.
    public func readDataset(
        _ info: HDF5DatasetInfo, as memoryType: HDF5Datatype? = nil, pieceBytes: Int,
        _ body: (UnsafeRawBufferPointer) throws -> Void
    ) throws {
        guard let total = info.byteCount else {
            throw HDF5Error(
                .invalidData, file: path, object: info.path, operation: "read dataset", detail: "impossible data size")
        }
        let rows = info.dataspace.kind == .simple ? info.dataspace.dimensions.first ?? 0 : 0
        if total <= UInt64(pieceBytes) || rows <= 1 {
            guard total <= UInt64(Int.max / 2) else {
                throw HDF5Error(
                    .invalidData, file: path, object: info.path, operation: "read dataset",
                    detail: "\(total) bytes in one row")
            }
            var bytes = [UInt8](repeating: 0, count: Int(total))
            try bytes.withUnsafeMutableBytes { try readDataset(info.path, as: memoryType, into: $0) }
            try bytes.withUnsafeBytes { try body($0) }
            return
        }
        let rowBytes = total / rows
        let rowsPerPiece = max(1, UInt64(pieceBytes) / max(1, rowBytes))
        guard rowBytes * rowsPerPiece <= UInt64(Int.max / 2) else {
            throw HDF5Error(
                .invalidData, file: path, object: info.path, operation: "read dataset",
                detail: "rows of \(rowBytes) bytes")
        }
        var buffer = [UInt8](repeating: 0, count: Int(rowBytes * rowsPerPiece))
        var start: UInt64 = 0
        while start < rows {
            let count = min(rowsPerPiece, rows - start)
            let length = Int(count * rowBytes)
            try buffer.withUnsafeMutableBytes { raw in
                let piece = UnsafeMutableRawBufferPointer(rebasing: raw[0..<length])
                try HDF5Library.locked {
                    try readDatasetRows(
                        fileID, path: info.path, memoryType: memoryType, start: start, count: count, into: piece,
                        CallSite(file: path, object: info.path))
                }
            }
            try buffer.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[0..<length])) }
            start += count
        }
    }

    /// Reads a dataset's elements into a new array (see `readDataset(_:as:into:)`).
    public func readDataset(_ info: HDF5DatasetInfo, as memoryType: HDF5Datatype? = nil) throws -> [UInt8] {
        guard let count = info.byteCount, count < UInt64(Int.max / 2) else {
            throw HDF5Error(
                .invalidData, file: path, object: info.path, operation: "read dataset", detail: "impossible data size")
        }
        var bytes = [UInt8](repeating: 0, count: Int(count))
        try bytes.withUnsafeMutableBytes { try readDataset(info.path, as: memoryType, into: $0) }
        return bytes
    }
}

/// Writes a new HDF5 file, object by object. Parents must be created before their children.
///
/// The file is closed by `close()` or when the writer is released; atomic replacement is the caller's job (write
/// to a temporary path, then rename).
public final class HDF5FileWriter {
    public let path: String
    private var handle: OwnedIDBox?

    /// - Parameter overwrite: truncate an existing file (the caller's own temporary file); otherwise an existing
    ///   file is an error.
    /// - Throws: `HDF5Error` if the file cannot be created.
    public init(creatingAt path: String, overwrite: Bool = false) throws {
        self.path = path
        self.handle = try HDF5Library.locked {
            OwnedIDBox(try createFile(path, overwrite: overwrite, CallSite(file: path, object: "/")))
        }
    }

    private func fileID() throws -> Int64 {
        guard let handle else {
            throw HDF5Error(
                .closed, file: path, object: "/", operation: "write", detail: "the writer is already closed")
        }
        return handle.id
    }

    /// Creates a group (path "" is the root group, which exists already) and writes its attributes.
    public func createGroup(_ groupPath: String, attributes: [HDF5Attribute]) throws {
        let file = try fileID()
        try HDF5Library.locked {
            let site = CallSite(file: path, object: groupPath.isEmpty ? "/" : groupPath)
            if groupPath.isEmpty {
                let root = try openObject(file, "/", site)
                for attribute in attributes { try writeAttribute(attribute, to: root.id, site) }
            } else {
                let group = try createGroupObject(file, groupPath, site)
                for attribute in attributes { try writeAttribute(attribute, to: group.id, site) }
            }
        }
    }

    /// Creates a dataset with the description's type, shape, layout (chunk shape and filters) and attributes, and
    /// writes `data` (the elements in the dataset's own type, C order).
    public func createDataset(_ info: HDF5DatasetInfo, data: UnsafeRawBufferPointer) throws {
        let file = try fileID()
        guard let expected = info.byteCount, expected == UInt64(data.count) else {
            throw HDF5Error(
                .invalidData, file: path, object: info.path, operation: "create dataset",
                detail:
                    "\(data.count) bytes of data for a dataset of \(info.byteCount.map(String.init) ?? "overflowing") bytes"
            )
        }
        try HDF5Library.locked {
            try createDatasetObject(file, info, data: data, CallSite(file: path, object: info.path))
        }
    }

    /// Flushes and closes the file.
    public func close() throws {
        guard handle != nil else { return }
        try HDF5Library.locked { handle = nil }
    }

    deinit {
        if handle != nil { _ = try? HDF5Library.locked { handle = nil } }
    }
}

/// Lets a class hold a `~Copyable` owner (closing happens when the box goes, under the library lock by callers).
final class OwnedIDBox {
    private let owned: OwnedID
    var id: Int64 { owned.id }
    init(_ owned: consuming OwnedID) { self.owned = owned }
}
