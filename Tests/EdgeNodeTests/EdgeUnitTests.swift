import EdgeNode
import Synchronization
import Testing

@Suite("Range headers, read as RFC 9110 §14 says")
struct ByteRangeTests {
    // Expected ranges worked out by hand from the RFC's examples (a 10,000-byte representation) and edge cases.
    @Test(arguments: [
        ("bytes=0-499", ByteRangeRequest.partial(0..<500)),
        ("bytes=500-999", .partial(500..<1000)),
        ("bytes=-500", .partial(9500..<10000)),
        ("bytes=9500-", .partial(9500..<10000)),
        ("bytes=0-0", .partial(0..<1)),
        ("bytes=-1", .partial(9999..<10000)),
        ("bytes=9999-20000", .partial(9999..<10000)),
        ("bytes=-20000", .partial(0..<10000)),
        ("bytes=10000-", .unsatisfiable),
        ("bytes=10000-10005", .unsatisfiable),
        ("bytes=-0", .unsatisfiable),
        ("bytes=500-100", .whole),
        ("bytes=0-1,5-6", .whole),
        ("items=0-5", .whole),
        ("bytes=a-5", .whole),
        ("bytes=5", .whole),
        ("bytes= 10 - 19 ", .partial(10..<20)),
        ("BYTES=1-2", .partial(1..<3)),
    ])
    func parses(header: String, expected: ByteRangeRequest) {
        #expect(ByteRangeRequest(header: header, size: 10_000) == expected, "\(header)")
    }

    @Test func noHeaderOrEmptyResource() {
        #expect(ByteRangeRequest(header: nil, size: 10) == .whole)
        #expect(ByteRangeRequest(header: "bytes=0-", size: 0) == .unsatisfiable)
        #expect(ByteRangeRequest(header: "bytes=-5", size: 0) == .unsatisfiable)
    }
}

/// Shared by the concurrent callers of a test.
final class Tally<Value: Sendable>: Sendable {
    let value: Mutex<Value>
    init(_ initial: Value) { value = Mutex(initial) }
}

@Suite("One fetch per key, however many callers")
struct SingleFlightTests {
    @Test("concurrent callers of overlapping keys: each key fetched once, every caller gets every value")
    func eachKeyOnce() async throws {
        let fetches = Tally<[Int: Int]>([:])
        let flights = SingleFlight<Int, Int>()
        try await withThrowingTaskGroup(of: [Int: Int].self) { group in
            for caller in 0..<8 {
                let keys = Array((caller % 3)..<(caller % 3 + 5))
                group.addTask {
                    try await flights.values(for: keys) { claimed in
                        fetches.value.withLock { for key in claimed { $0[key, default: 0] += 1 } }
                        try await Task.sleep(for: .milliseconds(50))
                        return Dictionary(uniqueKeysWithValues: claimed.map { ($0, $0 * 10) })
                    }
                }
            }
            for try await values in group {
                for (key, value) in values { #expect(value == key * 10) }
                #expect(values.count == 5)
            }
        }
        // 8 callers starting within 50 ms of one another: keys 0...6, each fetched by exactly one of them.
        #expect(fetches.value.withLock { $0 } == Dictionary(uniqueKeysWithValues: (0...6).map { ($0, 1) }))
        #expect(flights.count == 0)
    }

    @Test("a failed fetch is not remembered: the next caller fetches again")
    func failureIsRetried() async throws {
        struct Refused: Error {}
        let calls = Tally(0)
        let flights = SingleFlight<String, Int>()
        await #expect(throws: Refused.self) {
            _ = try await flights.values(for: ["a"]) { _ in
                calls.value.withLock { $0 += 1 }
                throw Refused()
            }
        }
        let values = try await flights.values(for: ["a"]) { _ in
            calls.value.withLock { $0 += 1 }
            return ["a": 1]
        }
        #expect(values == ["a": 1])
        #expect(calls.value.withLock { $0 } == 2)
    }

    @Test("keys the isDone check answers are not fetched")
    func doneKeysAreNotFetched() async throws {
        let flights = SingleFlight<Int, String> { $0 < 3 ? "held" : nil }
        let values = try await flights.values(for: [1, 2, 3, 4]) { claimed in
            #expect(claimed.sorted() == [3, 4])
            return Dictionary(uniqueKeysWithValues: claimed.map { ($0, "fetched") })
        }
        #expect(values == [1: "held", 2: "held", 3: "fetched", 4: "fetched"])
    }
}
