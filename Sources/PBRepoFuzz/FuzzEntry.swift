import FuzzHarnesses
import Glibc
import PBRCore

// Built two ways. With `-sanitize=fuzzer,address -D FUZZING` (scripts/fuzz.sh) `main` hands the process to
// libFuzzer's driver, which calls `fuzzOneInput` for the target named by PBREPO_FUZZ_TARGET. (SwiftPM gives every
// executable its own `main`, so libFuzzer's is not used.) In an ordinary build it is a small tool that replays
// inputs (a crash libFuzzer found, without the sanitizers) and writes the seed corpus.

private func printError(_ line: String) {
    let bytes = Array((line + "\n").utf8)
    _ = bytes.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
}

#if FUZZING
    private let fuzzTarget: FuzzTarget = {
        guard let name = getenv("PBREPO_FUZZ_TARGET").map({ String(cString: $0) }),
            let target = FuzzTarget(rawValue: name)
        else {
            let names = FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")
            printError("pbrepo-fuzz: set PBREPO_FUZZ_TARGET to one of: \(names)")
            exit(2)
        }
        return target
    }()

    @_cdecl("LLVMFuzzerTestOneInput")
    public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
        fuzzTarget.run(UnsafeRawBufferPointer(start: data, count: count))
        return 0
    }

    /// libFuzzer's entry point for programs that keep their own `main` (compiler-rt's FuzzerInterface.h).
    @_silgen_name("LLVMFuzzerRunDriver")
    private func runFuzzerDriver(
        _ argc: UnsafeMutablePointer<CInt>,
        _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
        _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
    ) -> CInt

    @main
    enum FuzzTool {
        static func main() {
            _ = fuzzTarget
            var argc = CommandLine.argc
            var argv = CommandLine.unsafeArgv
            exit(runFuzzerDriver(&argc, &argv) { data, count in fuzzOneInput(data, count) })
        }
    }
#else
    @main
    enum FuzzTool {
        static let usage = """
            usage: pbrepo-fuzz run TARGET FILE...   replay inputs, print what each came to
                   pbrepo-fuzz seeds DIRECTORY       write every target's seed inputs to DIRECTORY/TARGET/
            targets: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", "))
            """

        static func main() {
            let arguments = Array(CommandLine.arguments.dropFirst())
            switch (arguments.first, arguments.count) {
            case ("run", 3...):
                guard let target = FuzzTarget(rawValue: arguments[1]) else { fail("unknown target \(arguments[1])") }
                for path in arguments[2...] {
                    do {
                        print("\(path): \(target.outcome(try FileSystem.read(path)))")
                    } catch {
                        fail("\(error)")
                    }
                }
            case ("seeds", 2):
                do {
                    for target in FuzzTarget.allCases {
                        let directory = arguments[1] + "/" + target.rawValue
                        try FileSystem.makeDirectories(directory)
                        for seed in try target.seeds() {
                            try FileSystem.writeAtomically(seed.bytes, to: directory + "/" + seed.name)
                        }
                    }
                } catch {
                    fail("\(error)")
                }
            default:
                fail(usage)
            }
        }

        static func fail(_ message: String) -> Never {
            printError("pbrepo-fuzz: \(message)")
            exit(64)
        }
    }
#endif
