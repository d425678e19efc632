import Dispatch
import Glibc
import Synchronization

/// What happens when pbrepo is interrupted (SIGINT from the terminal, SIGTERM from a supervisor): every temporary file
/// and staging directory still registered is removed, one line says what was not finished, and the process exits
/// with 128 + the signal's number (130, 143), as a shell reports a death by that signal.
///
/// `AtomicFile` registers its temporary file from creation to commit; other writers register what they stage. The
/// signal is taken on a dispatch queue, not in a signal handler, so the cleanup may do ordinary work; once it has
/// begun, new temporary files are refused (`isInterrupted`) so that none appears after the sweep.
public enum Interruption {
    private struct State {
        var installed = false
        var interrupted = false
        var next = 0
        var paths: [Int: String] = [:]
        var unfinished = "the command"
        var sources: [any DispatchSourceSignal] = []
        /// A long job that stops at safe points (training between episodes) takes the first signal as a request.
        var deferred = false
        var pending: Int32?
    }

    private static let state = Mutex(State())

    /// Takes SIGINT and SIGTERM from now on (once per process).
    ///
    /// - Parameter unfinished: what the line printed on interruption says was not finished ("assemble of m").
    public static func install(unfinished: String) {
        state.withLock { state in
            state.unfinished = unfinished
            guard !state.installed else { return }
            state.installed = true
            for number in [SIGINT, SIGTERM] {
                signal(number, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
                source.setEventHandler { interrupt(by: number) }
                source.resume()
                state.sources.append(source)
            }
        }
    }

    /// Says what an interruption would leave unfinished (a command refines what `install` said).
    public static func setUnfinished(_ text: String) { state.withLock { $0.unfinished = text } }

    /// Whether an interruption is being handled: writers stop creating temporary files.
    public static var isInterrupted: Bool { state.withLock { $0.interrupted } }

    /// Never returns while an interruption is being handled (the handler ends the process): a failure it caused —
    /// a temporary file refused, a file removed under a writer — is then not reported as an error of its own.
    public static func waitIfInterrupted() {
        while isInterrupted { pause() }
    }

    /// Creates a temporary file or directory and registers it in one step, so that an interruption either finds it
    /// registered or comes before it exists (`make` runs under the lock the interruption takes first).
    ///
    /// - Parameter make: creates the path; returns what the caller needs and the path, or nil when it failed.
    /// - Returns: nil when `make` failed or the process is being interrupted (then `make` is not called); otherwise
    ///   `make`'s result and the token for `unregister`.
    public static func creatingTemporary<Result>(_ make: () -> (result: Result, path: String)?) -> (
        result: Result, token: Int
    )? {
        state.withLock { state in
            guard !state.interrupted, let made = make() else { return nil }
            state.next += 1
            state.paths[state.next] = made.path
            return (made.result, state.next)
        }
    }

    public static func unregister(_ token: Int) { _ = state.withLock { $0.paths.removeValue(forKey: token) } }

    /// From now on the first SIGINT/SIGTERM only asks the command to stop at its next safe point (`pendingSignal`,
    /// then `exitAtSafePoint`); a second one interrupts at once, as usual.
    public static func deferToSafePoints() { state.withLock { $0.deferred = true } }

    /// The signal that asked a deferring command to stop, nil while none has.
    public static var pendingSignal: Int32? { state.withLock { $0.pending } }

    /// Ends a deferring command at its safe point: one line (what was done), exit 128 + the signal.
    public static func exitAtSafePoint(_ done: String) -> Never {
        let number = state.withLock { $0.pending } ?? SIGINT
        let line = "pbrepo: interrupted by \(number == SIGINT ? "SIGINT" : "SIGTERM"): \(done)\n"
        _ = Array(line.utf8).withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
        _exit(128 + number)
    }

    private static func interrupt(by number: Int32) {
        let request = state.withLock { state -> Bool in
            guard state.deferred, state.pending == nil else { return false }
            state.pending = number
            return true
        }
        if request {
            let line = "pbrepo: stopping at the next safe point (interrupt again to stop at once)\n"
            _ = Array(line.utf8).withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
            return
        }
        let (paths, unfinished) = state.withLock { state -> ([String], String) in
            state.interrupted = true
            return (Array(state.paths.values), state.unfinished)
        }
        var removed = 0
        for path in paths where FileSystem.removeTree(path) { removed += 1 }
        let name = number == SIGINT ? "SIGINT" : "SIGTERM"
        let line =
            "pbrepo: interrupted by \(name): \(unfinished) was not finished"
            + (removed > 0 ? "; removed its \(removed) temporary file(s)" : "") + "\n"
        _ = Array(line.utf8).withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
        // _exit, not exit: other threads are still running, and exit's teardown could race them.
        _exit(128 + number)
    }
}
