/// The decoders of bytes pbrepo did not write itself, each as a fuzz target: given any input, a target either
/// refuses it with a typed error or accepts it, and then what it accepted must hold up (a round trip, a second
/// decoding path, nothing written outside the output). A broken expectation stops the process (`FuzzFailure`), so
/// libFuzzer records the input; a crash or a sanitizer report does the same.
package enum FuzzTarget: String, CaseIterable, Sendable {
    /// An object file, as `verify`, `assemble` and a client of `export-blocks` read it.
    case object
    /// A `<model>.recipe.json` of an `export-blocks` directory, assembled against a fixed directory of objects.
    case recipe
    /// The strict JSON parser every untrusted header and file goes through.
    case json
    /// A safetensors header.
    case safetensorsHeader = "safetensors-header"

    /// Runs one input. Returns normally whether the input was accepted or refused.
    package func run(_ input: UnsafeRawBufferPointer) {
        switch self {
        case .object: ObjectHarness.run(input)
        case .recipe: RecipeHarness.shared.run(input)
        case .json: JSONHarness.run(input)
        case .safetensorsHeader: SafetensorsHeaderHarness.run(input)
        }
    }

    /// What the input came to, for the regression tests and for `pbrepo-fuzz run`.
    package func outcome(_ input: [UInt8]) -> FuzzOutcome {
        switch self {
        case .object: return input.withUnsafeBytes { ObjectHarness.outcome($0) }
        case .recipe: return input.withUnsafeBytes { RecipeHarness.shared.outcome($0) }
        case .json: return input.withUnsafeBytes { JSONHarness.outcome($0) }
        case .safetensorsHeader: return input.withUnsafeBytes { SafetensorsHeaderHarness.outcome($0) }
        }
    }
}

/// Whether a target accepted an input, or the error it refused it with.
package enum FuzzOutcome: Sendable, Equatable, CustomStringConvertible {
    case accepted
    case refused(String)

    package var description: String {
        switch self {
        case .accepted: return "accepted"
        case .refused(let reason): return "refused: \(reason)"
        }
    }
}

/// An expectation about an accepted input that did not hold: a bug, reported as a crash so that the fuzzer keeps
/// the input.
func expect(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    if !condition() { fatalError("fuzz expectation failed: \(message())") }
}
