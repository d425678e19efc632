import Foundation
import PBRCore
import Synchronization
import TestSupport
import Testing

@Suite struct JSONCodingTests {
    struct Inner: Codable, Equatable {
        var name: String
        var weights: [Double]
    }

    struct Outer: Codable, Equatable {
        var zulu: UInt64
        var alpha: Int8
        var flag: Bool
        var optional: String?
        var inner: [Inner]
        var table: [String: Int]
    }

    @Test func encodesMembersInDeclarationOrderAndDecodesBack() throws {
        let value = Outer(
            zulu: .max, alpha: -7, flag: true, optional: nil,
            inner: [Inner(name: "a\"b\\c\n", weights: [0.5, -1e-5, 3])], table: ["k": 1])
        let json = try JSONValueEncoder().encode(value)
        // Written by hand from RFC 8259: keys as declared, nil left out, UInt64.max exact, the string escaped.
        let expected =
            #"{"zulu":18446744073709551615,"alpha":-7,"flag":true,"inner":[{"name":"a\"b\\c\n","weights":[0.5,-1e-05,3.0]}],"table":{"k":1}}"#
        #expect(json.serialized == expected)
        // Foundation's decoder reads our text as the same value (an independent reader).
        let viaFoundation = try JSONDecoder().decode(Outer.self, from: Data(json.serialized.utf8))
        #expect(viaFoundation == value)
        #expect(try JSONValueDecoder().decode(Outer.self, from: json.utf8) == value)
    }

    @Test func nonFiniteNumbersBecomeNull() throws {
        let json = try JSONValueEncoder().encode([Double.nan, .infinity, -.infinity, 1.25])
        #expect(json.serialized == "[null,null,null,1.25]")
        #expect(JSONValue.number(Double.nan) == .null)
    }

    @Test func wholeNumbersInExponentFormAreIntegers() throws {
        #expect(
            try JSONValueDecoder().decode([UInt64].self, from: Array("[3e8, 2.0E2, 7]".utf8)) == [300_000_000, 200, 7])
        #expect(throws: DecodingError.self) { try JSONValueDecoder().decode(UInt64.self, from: Array("2.5".utf8)) }
        #expect(throws: DecodingError.self) { try JSONValueDecoder().decode(UInt8.self, from: Array("256".utf8)) }
        #expect(throws: DecodingError.self) { try JSONValueDecoder().decode(UInt64.self, from: Array("-1".utf8)) }
    }

    @Test func readJSONNamesTheFieldAndRefusesDuplicateKeys() throws {
        try Samples.withTemporaryDirectory { directory in
            let path = directory + "/file.json"
            try FileSystem.writeAtomically(#"{"name": "x", "weights": [1, "two"]}"#, to: path)
            let wrongType = #expect(throws: FileError.self) { try FileSystem.readJSON(Inner.self, from: path) }
            #expect(wrongType?.code == .invalidJSON)
            #expect(wrongType?.message.hasPrefix("weights[1]:") == true, "\(String(describing: wrongType))")

            try FileSystem.writeAtomically(#"{"name": "x", "name": "y", "weights": []}"#, to: path)
            let duplicate = #expect(throws: FileError.self) { try FileSystem.readJSON(Inner.self, from: path) }
            #expect(duplicate?.code == .invalidJSON)
            #expect((duplicate?.underlying as? JSONSyntaxError)?.duplicateKey == "name")

            let missing = #expect(throws: FileError.self) {
                try FileSystem.readJSON(Inner.self, from: directory + "/none")
            }
            #expect(missing?.code == .io)
            #expect(missing?.errno == ENOENT)
        }
    }

    @Test func layoutExpandsOnlyTheRequestedDepth() throws {
        let value = JSONValue.object([
            ("rows", .array([.object([("id", .string("a")), ("n", .number(1))])])), ("seed", .number(2)),
        ])
        #expect(
            value.prettyPrinted(expandedDepth: 2) == """
                {
                  "rows": [
                    {"id": "a", "n": 1}
                  ],
                  "seed": 2
                }
                """)
    }
}

@Suite struct ParallelTests {
    @Test func resultsComeInIndexOrderWhateverTheStartOrder() throws {
        let order = Parallel.largestFirst((0..<100).map { UInt64($0 % 7) })
        #expect(Set(order) == Set(0..<100))
        let results = try Parallel.map(count: 100, order: order) { $0 * $0 }
        #expect(results == (0..<100).map { $0 * $0 })
    }

    struct Failure: Error, Equatable { var index: Int }

    @Test func theLowestFailedIndexIsThrownAfterEveryItemRan() throws {
        let ran = Mutex(0)
        let caught = #expect(throws: Failure.self) {
            _ = try Parallel.map(count: 50) { index -> Int in
                ran.withLock { $0 += 1 }
                if index % 10 == 7 { throw Failure(index: index) }
                return index
            }
        }
        #expect(caught == Failure(index: 7))
        #expect(ran.withLock { $0 } == 50)
    }

    @Test func memoComputesOnceAndEvictsOldestBeyondCapacity() throws {
        let memo = Memo<Int, [UInt8]>(capacity: 40, cost: { $0.count })
        let computed = Mutex(0)
        func value(_ key: Int, size: Int) -> [UInt8] {
            memo.value(for: key) {
                computed.withLock { $0 += 1 }
                return [UInt8](repeating: UInt8(key), count: size)
            }
        }
        _ = value(1, size: 10)
        _ = value(1, size: 10)
        #expect(computed.withLock { $0 } == 1)
        _ = value(2, size: 10)
        _ = value(3, size: 10)
        _ = value(4, size: 10)
        _ = value(5, size: 10)  // 50 > 40: key 1 goes
        #expect(memo.count == 4)
        _ = value(1, size: 10)
        #expect(computed.withLock { $0 } == 6)
        _ = value(9, size: 11)  // over a quarter of the capacity: returned, not kept
        #expect(memo.count == 4)
    }
}

@Suite struct FileSystemTests {
    @Test func listsSortedAndMakesNestedDirectories() throws {
        try Samples.withTemporaryDirectory { directory in
            try FileSystem.makeDirectories(directory + "/a/b/c")
            try FileSystem.makeDirectories(directory + "/a/b/c")  // exists: no error
            #expect(FileSystem.isDirectory(directory + "/a/b/c"))
            for name in ["c", "C", "x10", "x2"] { try FileSystem.writeAtomically(name, to: directory + "/a/" + name) }
            #expect(try FileSystem.listDirectory(directory + "/a") == ["C", "b", "c", "x10", "x2"])
            let notThere = #expect(throws: FileError.self) { try FileSystem.listDirectory(directory + "/none") }
            #expect(notThere?.code == .io)
            #expect(notThere?.path == directory + "/none")
        }
    }

    @Test func temporaryDirectoriesOfThisHelperAreRemoved() throws {
        let path = Samples.withTemporaryDirectory { directory in
            _ = FileManager.default.createFile(atPath: directory + "/x", contents: Data([1]))
            return directory
        }
        #expect(!FileManager.default.fileExists(atPath: path))
    }
}
