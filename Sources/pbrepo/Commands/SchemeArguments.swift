import ArgumentParser
import EdgeSim
import Trainer

/// A scheme named on the command line: a built-in one (`SchemeRegistry`) or a learner's variant.
enum SchemeArgument: ExpressibleByArgument {
    case builtin(any PlanningScheme)
    case learner(Variant)

    init?(argument: String) {
        if let scheme = SchemeRegistry.scheme(named: argument) {
            self = .builtin(scheme)
        } else if let variant = Variant(rawValue: argument) {
            self = .learner(variant)
        } else {
            return nil
        }
    }

    var name: String {
        switch self {
        case .builtin(let scheme): return scheme.name
        case .learner(let variant): return variant.rawValue
        }
    }

    static var allValueStrings: [String] { SchemeRegistry.names + Variant.allCases.map(\.rawValue) }
}

/// Comma-separated schemes (`--schemes trimcaching,heuristic,maasn-da`).
struct SchemeList: ExpressibleByArgument {
    var schemes: [SchemeArgument]

    init?(argument: String) {
        var schemes: [SchemeArgument] = []
        for name in argument.split(separator: ",", omittingEmptySubsequences: false) {
            guard let scheme = SchemeArgument(argument: String(name)) else { return nil }
            schemes.append(scheme)
        }
        guard !schemes.isEmpty else { return nil }
        self.schemes = schemes
    }

    var defaultValueDescription: String { schemes.map(\.name).joined(separator: ",") }

    var learners: [Variant] {
        schemes.compactMap { if case .learner(let variant) = $0 { return variant } else { return nil } }
    }
}
