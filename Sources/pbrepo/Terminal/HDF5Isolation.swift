import ArgumentParser
import Foundation
import Glibc
import PBRCore
import TensorFiles

/// Runs libhdf5 on a file in a child process before pbrepo reads the file itself.
///
/// libhdf5 1.10 can crash (and in principle hang) on corrupt files — a damaged global heap makes it copy from a null
/// pointer. A crash in a child is a clean error in the parent: "libhdf5 crashed reading FILE". Files the child
/// reads without trouble are then read in-process.
enum HDF5Isolation {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Checks `path` in a child (`pbrepo check-hdf5 PATH`) when it is an HDF5 file; does nothing for other files.
    static func check(_ path: String) throws {
        guard Checkpoint.isHDF5(path) else { return }
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? UInt64) ?? 0
        let limit = Limit.hdf5CheckSeconds.value + Double(size) / 1e8  // a minute, plus a second per 100 MB
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/proc/self/exe")
        process.arguments = [CheckHDF5.configuration.commandName ?? "check-hdf5", "--parent", String(getpid()), path]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(limit)
        while process.isRunning && Date() < deadline { usleep(2000) }
        if process.isRunning {
            process.terminate()
            // A valid file can take longer: tens of thousands of objects, or datasets with no storage whose
            // (fill) values still have to be read and hashed.
            throw Failure(
                description:
                    "\(path): libhdf5 did not finish reading the file within \(Int(limit)) s; it is corrupt, or"
                    + " very many objects or unallocated elements (PBREPO_LIMIT_HDF5_CHECK_SECONDS raises the limit)")
        }
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        switch (process.terminationReason, process.terminationStatus) {
        case (.uncaughtSignal, let signal):
            throw Failure(description: "\(path): libhdf5 crashed (signal \(signal)) reading the file: it is corrupt")
        case (_, 0):
            return
        default:
            let line = message.split(separator: "\n").first.map(String.init) ?? "libhdf5 refused the file"
            throw Failure(description: String(line.dropFirst(line.hasPrefix("pbrepo: error: ") ? 15 : 0)))
        }
    }
}

/// The child side of `HDF5Isolation`: reads every object and hashes every dataset of an HDF5 file.
struct CheckHDF5: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-hdf5",
        abstract: "Read every object of an HDF5 file (used by other commands to isolate libhdf5).",
        shouldDisplay: false
    )

    @Option(help: "Exit as soon as this process is gone (the pbrepo that started the check).") var parent: Int32?
    @Argument var path: String

    func run() throws {
        if let parent {
            // A killed parent must not leave the check running for minutes: the child watches for it and leaves.
            Thread.detachNewThread {
                while getppid() == parent { usleep(100_000) }
                Glibc.exit(1)
            }
        }
        try Console.run { _ = try Inspection.run(path: path) }
    }
}
