import Glibc
import Synchronization

/// Where a command's time goes: seconds per named stage, summed over the threads that ran it (so that stages that
/// overlap — decoding on the workers while the writer writes — each show their own cost), in the order the stages
/// were first entered. The measurement a benchmark needs to say which stage bounds a case (`--json`'s `seconds`).
public final class StageClock: Sendable {
    private let totals = Mutex<[(stage: String, seconds: Double)]>([])
    private let started = StageClock.now()

    public init() {}

    /// Runs `body`, adding its wall time to `stage`.
    public func measure<R>(_ stage: String, _ body: () throws -> R) rethrows -> R {
        let start = Self.now()
        defer { add(stage, Self.now() - start) }
        return try body()
    }

    public func add(_ stage: String, _ seconds: Double) {
        totals.withLock { totals in
            if let index = totals.firstIndex(where: { $0.stage == stage }) {
                totals[index].seconds += seconds
            } else {
                totals.append((stage, seconds))
            }
        }
    }

    /// The stages so far, and `total`: the wall time since the clock was made.
    public var stages: [StageTime] {
        totals.withLock { $0.map { StageTime(stage: $0.stage, seconds: $0.seconds) } }
            + [StageTime(stage: "total", seconds: Self.now() - started)]
    }

    static func now() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }
}

/// One stage's seconds (see `StageClock`). Results that carry them compare equal whatever the times.
public struct StageTime: Sendable, Equatable {
    public var stage: String
    public var seconds: Double

    public static func == (a: StageTime, b: StageTime) -> Bool { a.stage == b.stage }
}

/// The process's peak resident memory so far (`VmHWM` of /proc/self/status, anonymous and file-backed pages
/// together), in bytes; nil where /proc is not there.
public func peakResidentBytes() -> UInt64? {
    guard let file = fopen("/proc/self/status", "r") else { return nil }
    defer { fclose(file) }
    var line = [CChar](repeating: 0, count: 256)
    while fgets(&line, Int32(line.count), file) != nil {
        let text = String(cString: line)
        guard text.hasPrefix("VmHWM:") else { continue }
        let digits = text.dropFirst(6).filter(\.isNumber)
        return UInt64(digits).map { $0 * 1024 }
    }
    return nil
}
