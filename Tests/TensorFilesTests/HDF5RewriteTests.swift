import Foundation
import HDF5
import TensorFiles
import TestSupport
import Testing
import XXHash

/// The HDF5 fallback writer: a rewritten file has the same groups, datasets and attributes.
@Suite(.serialized) struct HDF5RewriteTests {
    static let hdf5Samples = Samples.truthFiles.filter { $0.format == "hdf5" }.map(\.path)

    @Test(arguments: hdf5Samples)
    func rewriteKeepsEverythingH5diffCompares(relative: String) throws {
        guard case .hdf5(let original) = try Checkpoint.open(Samples.path(relative)) else {
            Issue.record("not HDF5")
            return
        }
        let output = Samples.temporaryDirectory() + "/copy.h5"
        try original.rewrite(to: output)
        guard case .hdf5(let copy) = try Checkpoint.open(output) else {
            Issue.record("copy not HDF5")
            return
        }
        // Same tree, types, shapes, layouts and attributes; only where libhdf5 put the data may differ.
        func comparable(_ nodes: [HDF5Node]) -> [HDF5Node] {
            nodes.map { node in
                guard case .dataset(var info) = node else { return node }
                info.fileOffset = nil
                info.storageSize = 0
                return .dataset(info)
            }
        }
        #expect(comparable(copy.nodes) == comparable(original.nodes))
        for (a, b) in zip(original.datasets, copy.datasets) {
            #expect(try original.readTensor(a) == copy.readTensor(b), "\(a.path)")
        }
        // And h5diff (Debian's hdf5-tools, installed by `make deps`) agrees, when it is there.
        let h5diff = "/usr/bin/h5diff"
        if FileManager.default.isExecutableFile(atPath: h5diff) {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: h5diff)
            process.arguments = [Samples.path(relative), output]
            try process.run()
            process.waitUntilExit()
            #expect(process.terminationStatus == 0, "h5diff \(relative) \(output)")
        }
    }

    @Test func rewriteKeepsChunkingAndFilters() throws {
        guard case .hdf5(let original) = try Checkpoint.open(Samples.path("hdf5/dtypes-and-layouts.h5")) else {
            Issue.record("not HDF5")
            return
        }
        let compressed = try #require(original.datasets.first { $0.path == "layouts/chunked_gzip_shuffle" })
        #expect(compressed.layout.kind == .chunked)
        #expect(compressed.layout.chunkDimensions == [16, 8])
        #expect(compressed.layout.filters.map(\.id) == [2, 1])  // shuffle, then deflate
        #expect(compressed.fileOffset == nil)
        let contiguous = try #require(original.datasets.first { $0.path == "floats/f16" })
        #expect(contiguous.fileOffset != nil)
    }

    @Test func contiguousExtentsHoldExactlyTheTensorBytes() throws {
        // What the block store's splicing relies on: file[offset ..< offset+size] == the dataset's bytes.
        for relative in ["mlp/mlp-base.h5", "mlp/mlp-ft-freeze1.weights.h5"] {
            guard case .hdf5(let checkpoint) = try Checkpoint.open(Samples.path(relative)) else { continue }
            let file = try #require(FileManager.default.contents(atPath: Samples.path(relative)))
            for info in checkpoint.datasets {
                let offset = try #require(info.fileOffset, "\(info.path) has no extent")
                let extent = file[Int(offset)..<Int(offset + info.storageSize)]
                #expect(Array(extent) == (try checkpoint.readTensor(info)), "\(relative): \(info.path)")
            }
        }
    }
}

/// Reading HDF5 datasets in bounded pieces gives the same bytes as reading them whole.
@Suite(.serialized) struct HDF5PieceReadTests {
    @Test(arguments: [1, 7, 300, 4096])
    func piecesConcatenateToTheWholeDataset(pieceBytes: Int) throws {
        guard case .hdf5(let checkpoint) = try Checkpoint.open(Samples.path("hdf5/dtypes-and-layouts.h5")) else {
            Issue.record("not HDF5")
            return
        }
        for info in checkpoint.datasets {
            var joined: [UInt8] = []
            var pieces = 0
            try checkpoint.readTensor(info, pieceBytes: pieceBytes) { piece in
                joined.append(contentsOf: piece)
                pieces += 1
            }
            #expect(joined == (try checkpoint.readTensor(info)), "\(info.path) in pieces of \(pieceBytes)")
            let rows = info.dataspace.dimensions.first ?? 1
            if info.path == "layouts/chunked_gzip_shuffle" && pieceBytes < 4000 {
                #expect(pieces > 1 && pieces <= Int(rows), "\(pieces) pieces")
            }
        }
    }
}
