import PBRCore
import Testing

@Suite struct StrictJSONTests {
    func parse(_ text: String) throws(JSONSyntaxError) -> JSONValue { try StrictJSONParser.parse(Array(text.utf8)) }

    @Test func keepsOrderAndExactIntegers() throws {
        let value = try parse(#"{"z":1,"a":[18446744073709551615,-0.5e3],"m":{"k":"v"}}"#)
        guard case .object(let members) = value else {
            Issue.record("not an object")
            return
        }
        #expect(members.map(\.key) == ["z", "a", "m"])
        #expect(value["a"] == .array([.number("18446744073709551615"), .number("-0.5e3")]))
        #expect(value["a"].flatMap { if case .array(let a) = $0 { a[0].uint64 } else { nil } } == UInt64.max)
        #expect(JSONValue.number("18446744073709551616").uint64 == nil)
        #expect(JSONValue.number("-1").uint64 == nil)
        #expect(JSONValue.number("1e3").uint64 == nil)
    }

    @Test func decodesEscapes() throws {
        #expect(try parse(#""a\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00""#) == .string("a\"\\/\u{8}\u{c}\n\r\té😀"))
        #expect(try parse(#""naïve""#) == .string("naïve"))
    }

    @Test func rejectsDuplicatesAtAnyDepth() {
        for text in [#"{"a":1,"a":2}"#, #"{"x":{"b":1,"b":1}}"#, #"[{"c":0,"d":0,"c":0}]"#] {
            do {
                _ = try parse(text)
                Issue.record("accepted \(text)")
            } catch {
                #expect(error.duplicateKey != nil, "\(text)")
            }
        }
    }

    @Test(arguments: [
        "", "{", "}", "[1,]", "{\"a\" 1}", "{\"a\":1,}", "01", "1.", "-", "+1", ".5", "1e", "tru", "nul",
        "\"\u{01}\"", "\"\\x\"", "\"\\u12\"", "\"\\udc00\"", "\"abc", "{\"a\":1} {}", "[1] 2",
    ])
    func rejectsMalformedText(text: String) {
        #expect(throws: JSONSyntaxError.self) { try parse(text) }
    }

    @Test func limitsNesting() {
        let deep = String(repeating: "[", count: 65) + String(repeating: "]", count: 65)
        #expect(throws: JSONSyntaxError.self) { try parse(deep) }
        let fine = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        #expect(throws: Never.self) { try parse(fine) }
    }

    @Test func serializesWhatItParses() throws {
        let text = #"{"a":[1,{"b":"x\"y\n"}],"c":null,"d":true}"#
        #expect(try parse(text).serialized == text)
        #expect(try parse(try parse(text).prettyPrinted()) == parse(text))
    }
}
