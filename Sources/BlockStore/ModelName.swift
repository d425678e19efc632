import GRDB
import PBRCore

/// What a model may be called: a plain name (`llama-ft`), or a Hugging Face repo id (`org/name`), either of them
/// with a revision (`org/name@v2`). A name is also a relative path where export-blocks writes the model's recipe
/// (`org/name.recipe.json`), so it can never climb out of a directory.
package enum ModelName {
    /// Refuses a name that is empty, has more than one `/`, an empty, `.` or `..` part, or control characters.
    package static func check(_ name: String) throws(StoreError) {
        func refuse(_ why: String) -> StoreError {
            // Control characters are shown escaped where the message is printed (the CLI's one-line errors).
            StoreError(.invalidArgument, "\"\(name)\" is not a model name: \(why)")
        }
        guard !name.isEmpty else { throw refuse("it is empty") }
        guard name.utf8.count <= 256 else { throw refuse("it is longer than 256 bytes") }
        guard !name.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
            throw refuse("it holds control characters")
        }
        let parts = name.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2 else { throw refuse("a name is NAME or ORG/NAME, with one \"/\" at most") }
        for part in parts {
            guard !part.isEmpty, part != ".", part != ".." else {
                throw refuse("\"\(part)\" cannot be part of a name (ORG/NAME needs both)")
            }
        }
    }

    /// The organisation of a repo id (`org` of `org/name@rev`), nil for a plain name.
    package static func organisation(of name: String) -> String? {
        name.firstIndex(of: "/").map { String(name[..<$0]) }
    }
}

extension StoreIndex {
    func modelNames() throws -> [String] {
        try read { db in try String.fetchAll(db, sql: "SELECT name FROM model ORDER BY name") }
    }
}

extension Store {
    /// "no model named X in store S", with the closest model's name when X looks like a typo of it.
    func unknownModel(_ name: String) -> StoreError {
        let names = (try? index.modelNames()) ?? []
        return StoreError(
            .unknownModel, "no model named \"\(name)\" in store \(root)\(Suggestion.clause(for: name, among: names))")
    }
}
