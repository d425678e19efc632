import ArgumentParser
import Foundation
import Glibc
import PBRCore
import Synchronization

/// Where the CLI writes: results to stdout, diagnostics and progress to stderr.
enum Console {
    static func error(_ message: String) {
        // An interruption's handler prints the one line and exits; what it made fail is not a second error.
        Interruption.waitIfInterrupted()
        writeStandardError("pbrepo: error: " + message.oneLine + "\n")
    }

    /// Something the user should know that is not an error (one line on stderr).
    static func note(_ message: String) {
        guard settings.withLock({ $0.notes }) else { return }
        writeStandardError("pbrepo: " + message.oneLine + "\n")
    }

    /// What `--no-progress` and `-q/--quiet` switch off, for the whole process.
    private static let settings = Mutex((progress: true, notes: true))

    static func configure(progress: Bool, notes: Bool) {
        settings.withLock { $0 = (progress, notes) }
    }

    /// Whether progress bars are drawn: on a terminal, unless switched off.
    static var stderrIsTerminal: Bool { isatty(STDERR_FILENO) == 1 && settings.withLock { $0.progress } }

    /// Runs a library call; a failure becomes one line on stderr and exit status 1 (never a trap or a stack dump).
    static func run<R>(_ body: () throws -> R) throws -> R {
        do {
            return try body()
        } catch let exit as ExitCode {
            throw exit  // already reported by an inner run
        } catch let error as ValidationError {
            throw error  // ArgumentParser prints it with the usage
        } catch {
            self.error(describe(error))
            throw ExitCode.failure
        }
    }

    /// One line for a user: the library errors describe themselves; an error Foundation raised (it should not reach
    /// here, but a path the library left to Foundation could) becomes "PATH: what happened" instead of its
    /// `Error Domain=NSCocoaErrorDomain Code=516 … UserInfo={…}` dump.
    static func describe(_ error: any Error) -> String {
        let text = String(describing: error)
        guard text.hasPrefix("Error Domain=") else { return text }
        let error = error as NSError
        let path = error.userInfo[NSFilePathErrorKey] as? String ?? (error.userInfo[NSURLErrorKey] as? URL)?.path
        var what = error.localizedDescription
        if let underlying = error.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            what = String(cString: strerror(Int32(underlying.code)))
        }
        return path.map { "\($0): \(what)" } ?? what
    }
}

/// A one-line progress bar on stderr, drawn only when stderr is a terminal and at most ten times a second.
final class ProgressBar: Sendable {
    private let label: String
    private let enabled: Bool
    private let counting: Bool
    private let lock = Mutex(0.0)
    /// When the first update came: the rate is of the work, not of the time before it began (a pull's assembly).
    private let started = Mutex<Double?>(nil)

    /// - Parameter counting: show done/total as plain counts (episodes, runs) instead of bytes.
    init(label: String, counting: Bool = false, enabled: Bool = Console.stderrIsTerminal) {
        self.label = label
        self.counting = counting
        self.enabled = enabled
    }

    func update(done: UInt64, total: UInt64, note: String? = nil) {
        guard enabled, total > 0 else { return }
        let now = Self.seconds()
        let started = self.started.withLock { first in
            if first == nil { first = now }
            return first!
        }
        let draw = lock.withLock { last -> Bool in
            if now - last < 0.1 && done < total { return false }
            last = now
            return true
        }
        guard draw else { return }
        let fraction = Double(done) / Double(total)
        let width = 30
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        let amounts = counting ? "\(done)/\(total)" : "\(formatBytes(done))/\(formatBytes(total))"
        let elapsed = now - started
        var pace = ""
        // From the first frame on, so that a short job shows its rate too (a rate over a short time is rough, not wrong).
        if elapsed > 0, done > 0 {
            let rate = Double(done) / elapsed
            let left = Double(total - min(done, total)) / rate
            pace = counting ? String(format: " %.1f/s", rate) : " \(formatBytes(UInt64(rate)))/s"
            pace += done < total ? " ETA \(Self.clock(left))" : " \(Self.clock(elapsed))"
        }
        writeStandardError(
            "\r\(label) [\(bar)] \(Int(fraction * 100))% \(amounts)\(pace)" + (note.map { " " + $0 } ?? "")
                + "\u{1B}[K")
    }

    func finish() {
        if enabled { writeStandardError("\r\u{1B}[K") }
    }

    /// `m:ss`, or `h:mm:ss` from an hour on.
    static func clock(_ seconds: Double) -> String {
        let total = Int(seconds.rounded())
        let (hours, minutes, secs) = (total / 3600, total / 60 % 60, total % 60)
        let tail = String(format: "%02d", secs)
        return hours > 0 ? "\(hours):" + String(format: "%02d", minutes) + ":" + tail : "\(minutes):" + tail
    }

    static func seconds() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }
}

/// A one-line counter of work whose total is not known in advance (a searching scheme's beamforming problems), on
/// stderr on a terminal: what is counted, its rate and the elapsed time, drawn at once and then four times a second
/// until `finish`.
final class ActivityTicker: Sendable {
    private let label: String
    private let unit: String
    private let count: @Sendable () -> Int
    private let stopped = Mutex(false)
    private let exited = DispatchSemaphore(value: 0)
    private let enabled: Bool

    init(label: String, unit: String, enabled: Bool = Console.stderrIsTerminal, count: @escaping @Sendable () -> Int) {
        self.label = label
        self.unit = unit
        self.count = count
        self.enabled = enabled
        guard enabled else { return }
        let start = count()
        let started = ProgressBar.seconds()
        draw(done: 0, elapsed: 0)
        Thread { [self] in
            while !stopped.withLock({ $0 }) {
                usleep(250_000)
                draw(done: count() - start, elapsed: ProgressBar.seconds() - started)
            }
            exited.signal()
        }.start()
    }

    private func draw(done: Int, elapsed: Double) {
        let rate = elapsed > 0 ? String(format: ", %.1f/s", Double(done) / elapsed) : ""
        writeStandardError("\r\(label): \(done) \(unit)\(rate), \(ProgressBar.clock(elapsed))\u{1B}[K")
    }

    /// Stops drawing and clears the line.
    func finish() {
        guard enabled else { return }
        stopped.withLock { $0 = true }
        exited.wait()
        writeStandardError("\r\u{1B}[K")
    }

    /// Runs `body` with the ticker drawn meanwhile.
    static func around<R>(
        label: String, unit: String, count: @escaping @Sendable () -> Int, _ body: () throws -> R
    ) rethrows -> R {
        let ticker = ActivityTicker(label: label, unit: unit, count: count)
        defer { ticker.finish() }
        return try body()
    }
}

/// 1536 → "1.5 KiB".
func formatBytes(_ bytes: UInt64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var value = Double(bytes)
    var unit = 0
    while value >= 1024 && unit < units.count - 1 {
        value /= 1024
        unit += 1
    }
    let tenths = Int((value * 10).rounded())
    return unit == 0 ? "\(bytes) B" : "\(tenths / 10).\(tenths % 10) \(units[unit])"
}

/// Writes straight to file descriptor 2 (unbuffered, and free of the C library's shared `stderr` object).
func writeStandardError(_ text: String) {
    var bytes = Array(text.utf8)
    var offset = 0
    while offset < bytes.count {
        let written = bytes.withUnsafeMutableBytes { write(STDERR_FILENO, $0.baseAddress! + offset, $0.count - offset) }
        if written <= 0 { return }
        offset += written
    }
}

extension String {
    /// The text with line breaks turned into spaces and every other control character (ESC, CR, BEL, …) shown as
    /// `\u{1b}`: error messages are one line, and names taken from files cannot drive the terminal.
    var oneLine: String {
        var result = ""
        for scalar in unicodeScalars {
            if scalar == "\n" {
                result += " "
            } else if scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) {
                result += "\\u{" + String(scalar.value, radix: 16) + "}"
            } else {
                result.unicodeScalars.append(scalar)
            }
        }
        return result
    }
}

/// A share as a percentage of bytes with one decimal, the one way every command prints it (`42.5%`).
func percent(_ share: Double) -> String {
    let tenths = (share * 1000).rounded()
    return "\(Int(tenths) / 10).\(abs(Int(tenths)) % 10)%"
}
