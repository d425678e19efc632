import PBRCore
import TensorFiles
import TestSupport
import Testing

/// Every hostile sample must be refused with the error samples/hostile/expected.json names (written by hand in
/// samples/make_samples.py, not produced by pbrepo), whose message names the file.
@Suite struct HostileFileTests {
    @Test(arguments: Samples.hostile.keys.sorted())
    func refusedWithTheExpectedError(name: String) throws {
        let expected = try #require(Samples.hostile[name])
        let path = Samples.path("hostile/" + name)
        do {
            let inspection = try Inspection.run(path: path)
            Issue.record("\(name) was accepted with \(inspection.tensors.count) tensors")
        } catch let error as TensorFileError {
            #expect(error.code.rawValue == expected["code"], "\(name): \(error)")
            #expect(error.description.contains(expected["message_contains"] ?? "\u{0}"), "\(name): \(error)")
            #expect(error.description.contains(name) || error.path.contains(name), "\(name): \(error)")
            #expect(!error.description.contains("\n"))
        }
    }
}

/// Header rules checked on headers built in the test, each against the reference implementation's behaviour.
@Suite struct SafetensorsHeaderRuleTests {
    static func parse(_ json: String, data: UInt64?) throws(TensorFileError) -> SafetensorsHeader {
        try SafetensorsHeader.parse(json: Array(json.utf8), availableData: data, path: "test.safetensors")
    }

    static func code(_ json: String, data: UInt64?) -> String? {
        do {
            _ = try parse(json, data: data)
            return nil
        } catch {
            return error.code.rawValue
        }
    }

    @Test func acceptsWhatTheReferenceAccepts() throws {
        // Zero-sized and rank-0 tensors, whitespace padding before and after, an empty header, empty metadata.
        let header = try Self.parse(
            #"  {"__metadata__":{},"e":{"dtype":"F32","shape":[2,0],"data_offsets":[0,0]},"s":{"dtype":"I64","shape":[],"data_offsets":[0,8]}}   "#,
            data: 8)
        #expect(header.tensors.map(\.name) == ["e", "s"])
        #expect(header.metadata?.isEmpty == true)
        #expect(try Self.parse("{}", data: 0).tensors.isEmpty)
        #expect(try Self.parse("{}", data: 0).metadata == nil)
        // Sub-byte dtypes: 4-bit F4 packs two elements per byte.
        #expect(try Self.parse(#"{"q":{"dtype":"F4","shape":[6],"data_offsets":[0,3]}}"#, data: 3).dataLength == 3)
    }

    @Test(
        arguments: [
            (#"{"q":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}}"#, "size_mismatch"),  // 12 bits: not whole bytes
            (#"{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}"#, "invalid_header"),
            (#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0]}}"#, "invalid_header"),
            (#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1,"x":2}}"#, "duplicate_name"),
            (#"{"a":{"dtype":32,"shape":[1],"data_offsets":[0,4]}}"#, "invalid_header"),
            (#"{"a":[]}"#, "invalid_header"),
            (#"{"__metadata__":[],"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, "invalid_header"),
            (#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}} x"#, "invalid_json"),
            (#"{"a\u0000":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, nil),
            (#"{"\ud800":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, "invalid_json"),
        ] as [(String, String?)])
    func headerRules(json: String, expected: String?) {
        #expect(Self.code(json, data: 4) == expected, "\(json)")
    }

    @Test func offsetsAreCheckedInDataOrderNotHeaderOrder() throws {
        // The reference sorts by offset first: header order never matters.
        let header = try Self.parse(
            #"{"b":{"dtype":"U8","shape":[2],"data_offsets":[2,4]},"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}"#,
            data: 4)
        #expect(header.tensors.map(\.name) == ["b", "a"])
        #expect(header.tensorsInDataOrder.map(\.name) == ["a", "b"])
    }
}
