import Foundation
import PBRCore
import TensorFiles

/// User rules that override the default partition: an ordered list of regular expressions over tensor names, each
/// naming the block its matches belong to. The first rule that matches a name wins; names no rule matches are
/// partitioned by the default rule.
///
/// File format (JSON):
///
///     {"rules": [{"match": "^model\\.layers\\.(\\d+)\\.", "block": "layer.$1"},
///                {"match": "^lm_head\\.|^model\\.norm\\.", "block": "head", "kind": "head"}]}
///
/// `$1`…`$9` in `block` are replaced by the match's capture groups; `kind` is optional.
package struct PartitionRules: Sendable, Equatable {
    package struct Rule: Sendable, Equatable {
        package var match: String
        package var block: String
        package var kind: BlockKind?

        package init(match: String, block: String, kind: BlockKind? = nil) {
            self.match = match
            self.block = block
            self.kind = kind
        }
    }

    package var rules: [Rule]
    /// The rules file's bytes as given (recorded with each model ingested with it).
    package var source: String

    package init(rules: [Rule], source: String = "") throws(PartitionError) {
        self.rules = rules
        self.source = source
        for (index, rule) in rules.enumerated() where (try? NSRegularExpression(pattern: rule.match)) == nil {
            throw PartitionError(
                .invalidRule, path: "rules", rule: index,
                "rule pattern \"\(rule.match)\" is not a valid regular expression")
        }
    }

    /// Reads a rules file.
    package static func load(_ path: String) throws(PartitionError) -> PartitionRules {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw PartitionError(.unreadable, path: path, "cannot read rules file")
        }
        let root: JSONValue
        do {
            root = try StrictJSONParser.parse([UInt8](data))
        } catch {
            throw PartitionError(.invalidJSON, path: path, "rules file is not valid JSON: \(error)", underlying: error)
        }
        guard case .array(let entries)? = root["rules"] else {
            throw PartitionError(.invalidRule, path: path, "rules file has no \"rules\" array")
        }
        var rules: [Rule] = []
        for (index, entry) in entries.enumerated() {
            guard let match = entry["match"]?.stringValue, let block = entry["block"]?.stringValue, !block.isEmpty
            else {
                throw PartitionError(
                    .invalidRule, path: path, rule: index,
                    "rule \(index) needs string \"match\" and non-empty \"block\"")
            }
            var kind: BlockKind?
            if let text = entry["kind"]?.stringValue {
                guard let parsed = BlockKind(rawValue: text) else {
                    throw PartitionError(
                        .invalidRule, path: path, rule: index, "rule \(index) has unknown kind \"\(text)\"")
                }
                kind = parsed
            }
            rules.append(Rule(match: match, block: block, kind: kind))
        }
        do {
            return try PartitionRules(rules: rules, source: String(decoding: data, as: UTF8.self))
        } catch {
            var located = error
            located.path = path
            throw located
        }
    }

    /// The block `name` belongs to under these rules, with the rule's kind; nil when no rule matches.
    func block(for name: String) -> (name: String, kind: BlockKind?)? {
        let range = NSRange(name.startIndex..., in: name)
        for rule in rules {
            guard let expression = try? NSRegularExpression(pattern: rule.match),
                let match = expression.firstMatch(in: name, range: range)
            else { continue }
            var block = rule.block
            for group in stride(from: min(9, match.numberOfRanges - 1), through: 1, by: -1) {
                let captured = Range(match.range(at: group), in: name).map { String(name[$0]) } ?? ""
                block = block.replacingOccurrences(of: "$\(group)", with: captured)
            }
            return (block, rule.kind)
        }
        return nil
    }
}
