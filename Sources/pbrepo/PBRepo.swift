import ArgumentParser
import Foundation
import Glibc
import PBRCore

@main
struct PBRepo: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pbrepo",
        abstract: "A repository of AI model checkpoints, deduplicated by parameter block.",
        discussion: """
            Every command takes --no-progress (no progress bars; they are drawn only on a terminal anyway), \
            -q/--quiet (no progress and no notes: only results and errors) and -j/--jobs N (threads for parallel \
            work; default: every core).
            """,
        version: "0.1.0",
        subcommands: [
            Inspect.self, PartitionCommand.self, IngestCommand.self, ListCommand.self, ShowCommand.self,
            ReportCommand.self,
            ExportManifestCommand.self, SynthesizeManifestCommand.self, ExportBlocksCommand.self, AssembleCommand.self,
            PushCommand.self, PullCommand.self, ServeCommand.self,
            VerifyCommand.self,
            CollectGarbageCommand.self, RemoveCommand.self, DiskUsageCommand.self, ScanCacheCommand.self,
            BeamformCommand.self,
            SimulateCommand.self,
            SweepCommand.self, RobustnessCommand.self, TrainCommand.self, PlanCommand.self, PlotCommand.self,
            BoundCommand.self, Bench.self, CheckHDF5.self,
        ]
    )

    static func main() {
        // Ingest and assemble allocate and free many tensor-sized buffers (up to tens of MB). glibc serves those
        // with fresh mmaps by default, and the kernel zeroes every page on first touch: a quarter of an ingest's
        // time went to page faults. Keeping such blocks in the heap lets the next tensor reuse them.
        _ = glibcMallopt(-3, 32 << 20)  // M_MMAP_THRESHOLD
        _ = glibcMallopt(-1, 1 << 30)  // M_TRIM_THRESHOLD
        _ = glibcMallopt(-2, 256 << 20)  // M_TOP_PAD
        // Worker threads would otherwise get arenas of their own, whose 64 MB heaps glibc unmaps as soon as they
        // empty: every tensor's buffers then came back as fresh pages to fault in and zero (12 % of an ingest went
        // to clear_page). One arena keeps them; its lock is taken a few times per tensor, not per element.
        _ = glibcMallopt(-8, 1)  // M_ARENA_MAX
        // SIGINT/SIGTERM remove what is half-written and exit 130/143 with one line (see Interruption).
        let name = CommandLine.arguments.dropFirst().first { !$0.hasPrefix("-") } ?? "pbrepo"
        Interruption.install(unfinished: "pbrepo \(name)")
        // Output switches every command takes, wherever they appear (before `--`).
        var arguments = Array(CommandLine.arguments.dropFirst())
        let end = arguments.firstIndex(of: "--") ?? arguments.endIndex
        let switches = Set(arguments[..<end].filter { ["-q", "--quiet", "--no-progress"].contains($0) })
        arguments = arguments[..<end].filter { !switches.contains($0) } + arguments[end...]
        Console.configure(progress: switches.isEmpty, notes: !switches.contains("-q") && !switches.contains("--quiet"))
        do {
            arguments = try takeJobs(from: arguments)
        } catch {
            exit(withError: error)
        }
        let command: any ParsableCommand
        do {
            command = try parseAsRoot(negativeValuesJoined(arguments))
        } catch {
            if let hint = suggestion(for: fullMessage(for: error), arguments: arguments) {
                writeStandardError(fullMessage(for: error) + "\n" + hint + "\n")
                Glibc.exit(exitCode(for: error).rawValue)
            }
            exit(withError: error)
        }
        do {
            var command = command
            try command.run()
        } catch {
            Interruption.waitIfInterrupted()
            exit(withError: error)
        }
    }

    /// `-j N`, `-jN`, `--jobs N`, `--jobs=N` anywhere before `--`: the threads parallel work may use (default:
    /// every core); the arguments without it.
    static func takeJobs(from arguments: [String]) throws -> [String] {
        var result: [String] = []
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            if argument == "--" { return result + arguments[index...] }
            var value: String?
            if argument == "-j" || argument == "--jobs" {
                guard index + 1 < arguments.count else {
                    throw ValidationError("\(argument) needs a number of threads")
                }
                value = arguments[index + 1]
                index += 1
            } else if argument.hasPrefix("--jobs=") {
                value = String(argument.dropFirst("--jobs=".count))
            } else if argument.hasPrefix("-j"), argument.count > 2, Int(argument.dropFirst(2)) != nil {
                value = String(argument.dropFirst(2))
            }
            if let value {
                guard let jobs = Int(value), (1...4096).contains(jobs) else {
                    throw ValidationError("-j/--jobs takes a number of threads from 1 to 4096, not \"\(value)\"")
                }
                Parallel.setWorkers(jobs)
            } else {
                result.append(argument)
            }
            index += 1
        }
        return result
    }

    /// `--seed -1` as `--seed=-1`: ArgumentParser reads a value that starts with `-` as the next option, and says
    /// the value is missing.
    static func negativeValuesJoined(_ arguments: [String]) -> [String] {
        var result: [String] = []
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            if argument == "--" { return result + arguments[index...] }
            if argument.hasPrefix("--"), !argument.contains("="), index + 1 < arguments.count,
                let next = arguments[index + 1].utf8.dropFirst().first, arguments[index + 1].hasPrefix("-"),
                (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(next) || next == UInt8(ascii: ".")
            {
                result.append(argument + "=" + arguments[index + 1])
                index += 2
                continue
            }
            result.append(argument)
            index += 1
        }
        return result
    }

    /// "Did you mean …?" for an unknown subcommand, or a value not among those an option lists.
    static func suggestion(for message: String, arguments: [String]) -> String? {
        if let first = arguments.first, !first.hasPrefix("-"), message.contains("Unexpected argument '\(first)'") {
            let names = configuration.subcommands.compactMap { $0.configuration.commandName }
            return Suggestion.closest(to: first, among: names).map { "Did you mean 'pbrepo \($0)'?" }
        }
        // "The value 'corse' is invalid for '--scheme <scheme>'. Please provide one of the following:\n  - coarse …"
        guard let start = message.range(of: "The value '"),
            let end = message[start.upperBound...].firstIndex(of: "'")
        else { return nil }
        let value = String(message[start.upperBound..<end])
        let listed = message.split(separator: "\n").filter { $0.hasPrefix("  - ") }.map { String($0.dropFirst(4)) }
        return Suggestion.closest(to: value, among: listed).map { "Did you mean '\($0)'?" }
    }
}

/// glibc's `mallopt` (malloc.h), which the Glibc module does not export; the parameter numbers are glibc's.
@_silgen_name("mallopt")
func glibcMallopt(_ parameter: Int32, _ value: Int32) -> Int32
