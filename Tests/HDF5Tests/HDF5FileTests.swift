import Foundation
import HDF5
import TestSupport
import Testing

@Suite(.serialized) struct HDF5FileTests {
    /// Writes one dataset of each kind with attributes, reads the file back, and compares everything.
    @Test func writesAndReadsBackEveryKindOfType() throws {
        let directory = Samples.temporaryDirectory()
        let path = directory + "/types.h5"
        let types: [(String, HDF5Datatype, [UInt8])] = [
            ("f16", .float(.ieeeHalf, bytes: 2), [0x00, 0x3C, 0x00, 0xC0]),  // 1.0, -2.0
            ("bf16", .float(.bfloat16, bytes: 2), [0x80, 0x3F, 0x00, 0x40]),  // 1.0, 2.0
            ("f32be", .float(.ieeeSingle, bytes: 4, byteOrder: .bigEndian), [0x3F, 0x80, 0, 0, 0x40, 0, 0, 0]),
            ("u16", .integer(bytes: 2, signed: false), [1, 0, 0xFF, 0xFF]),
            (
                "i64", .integer(bytes: 8, signed: true),
                [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF] + [2, 0, 0, 0, 0, 0, 0, 0]
            ),
            ("bool", .h5pyBool, [1, 0]),
            (
                "opaque", HDF5Datatype(typeClass: .opaque, size: 2, byteOrder: .none, opaqueTag: "bf16-bits"),
                [1, 2, 3, 4]
            ),
        ]
        let utf8 = HDF5Datatype(
            typeClass: .string, size: 8, byteOrder: .none, string: .init(variableLength: true, utf8: true, padding: 0))
        let fixed = HDF5Datatype(
            typeClass: .string, size: 2, byteOrder: .none, string: .init(variableLength: false, utf8: false, padding: 1)
        )
        // In name order: the order libhdf5 lists attributes in.
        let attributes = [
            HDF5Attribute(name: "fixed", datatype: fixed, dataspace: .simple([2]), value: .raw(Array("abc\0".utf8))),
            HDF5Attribute(name: "note", datatype: utf8, dataspace: .scalar, value: .strings(["naïve ✓"])),
            HDF5Attribute(
                name: "numbers", datatype: .integer(bytes: 4, signed: true), dataspace: .simple([2]),
                value: .raw([1, 0, 0, 0, 0xFE, 0xFF, 0xFF, 0xFF])),
        ]
        let writer = try HDF5FileWriter(creatingAt: path)
        try writer.createGroup("", attributes: attributes)
        try writer.createGroup("g", attributes: [])
        for (name, type, bytes) in types {
            let info = HDF5DatasetInfo(
                path: "g/" + name, datatype: type, dataspace: .simple([2]), layout: .contiguous, fileOffset: nil,
                storageSize: 0, attributes: [])
            try bytes.withUnsafeBytes { try writer.createDataset(info, data: $0) }
        }
        try writer.close()

        let file = try HDF5File.open(path)
        let nodes = try file.nodes()
        #expect(nodes.map(\.path) == ["", "g"] + types.map { "g/" + $0.0 }.sorted())
        #expect(nodes.first?.attributes == attributes)
        #expect(nodes.first?.attributes[0].strings == ["ab", "c"])
        for case .dataset(let info) in nodes {
            let expected = try #require(types.first { "g/" + $0.0 == info.path })
            #expect(info.datatype == expected.1, "type of \(info.path)")
            #expect(try file.readDataset(info) == expected.2, "bytes of \(info.path)")
            #expect(info.fileOffset != nil && info.storageSize == UInt64(expected.2.count))
        }
        // Reading big-endian data as little-endian swaps each element.
        let bigEndian = try #require(
            nodes.compactMap { if case .dataset(let i) = $0, i.path == "g/f32be" { i } else { nil } }.first)
        var little = bigEndian.datatype
        little.byteOrder = .littleEndian
        #expect(try file.readDataset(bigEndian, as: little) == [0, 0, 0x80, 0x3F, 0, 0, 0, 0x40])
    }

    @Test func errorsNameTheFileAndObject() throws {
        let missing = "/nonexistent/dir/model.h5"
        do {
            _ = try HDF5File.open(missing)
            Issue.record("opening a missing file succeeded")
        } catch let error as HDF5Error {
            #expect(error.file == missing)
            #expect(error.code == .library)
            #expect(error.operation == "open file")
            #expect(!error.detail.isEmpty)
        }
        let path = Samples.temporaryDirectory() + "/one.h5"
        let writer = try HDF5FileWriter(creatingAt: path)
        try writer.close()
        #expect(throws: HDF5Error.self) { try HDF5FileWriter(creatingAt: path) }  // never overwrites by default
        let file = try HDF5File.open(path)
        var buffer = [UInt8](repeating: 0, count: 4)
        do {
            try buffer.withUnsafeMutableBytes { try file.readDataset("no/such/dataset", into: $0) }
            Issue.record("reading a missing dataset succeeded")
        } catch let error as HDF5Error {
            #expect(error.object == "no/such/dataset")
            #expect(error.description.contains("no/such/dataset"))
        }
    }

    @Test func refusesDataOfTheWrongSize() throws {
        let writer = try HDF5FileWriter(creatingAt: Samples.temporaryDirectory() + "/size.h5")
        let info = HDF5DatasetInfo(
            path: "x", datatype: .integer(bytes: 4, signed: true), dataspace: .simple([3]), layout: .contiguous,
            fileOffset: nil, storageSize: 0, attributes: [])
        let error = #expect(throws: HDF5Error.self) {
            try [UInt8](repeating: 0, count: 8).withUnsafeBytes { try writer.createDataset(info, data: $0) }
        }
        #expect(error?.code == .invalidData)
    }
}
