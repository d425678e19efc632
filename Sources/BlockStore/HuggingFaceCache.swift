import Foundation
import PBRCore

/// A repository folder of the local Hugging Face hub cache, laid out as `huggingface_hub` writes it:
/// `models--ORG--NAME/refs/<ref>` hold commit hashes, `snapshots/<commit>/` hold the files of each cached revision
/// as links into `blobs/` (named by sha256 for LFS files, by git-sha1 for the others).
package struct HuggingFaceRepository: Sendable {
    /// The `models--ORG--NAME` folder.
    package var folder: String
    /// `ORG/NAME` (or `NAME` for repositories without an organisation).
    package var id: String
    /// Ref names (`main`, `pr/1`) with the commit each points to, by name.
    package var refs: [(name: String, commit: String)]
    /// Commits with a snapshot folder, sorted.
    package var snapshots: [String]

    /// The hub cache: `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `$XDG_CACHE_HOME/huggingface/hub`, else
    /// `~/.cache/huggingface/hub` (as `huggingface_hub` resolves it).
    package static var cacheDirectory: String {
        let environment = ProcessInfo.processInfo.environment
        if let hub = environment["HF_HUB_CACHE"], !hub.isEmpty { return hub }
        if let home = environment["HF_HOME"], !home.isEmpty { return home + "/hub" }
        if let cache = environment["XDG_CACHE_HOME"], !cache.isEmpty { return cache + "/huggingface/hub" }
        return NSHomeDirectory() + "/.cache/huggingface/hub"
    }

    /// The cache folder of repo `id` in `cache`.
    package static func folder(of id: String, in cache: String = cacheDirectory) -> String {
        cache + "/models--" + id.replacingOccurrences(of: "/", with: "--")
    }

    /// `path` as a repository folder (commit nil) or one of its snapshot folders; nil when it is neither.
    package static func locate(_ path: String) -> (repository: HuggingFaceRepository, commit: String?)? {
        var url = URL(fileURLWithPath: path).standardizedFileURL
        var commit: String?
        if url.deletingLastPathComponent().lastPathComponent == "snapshots" {
            commit = url.lastPathComponent
            url = url.deletingLastPathComponent().deletingLastPathComponent()
        }
        let name = url.lastPathComponent
        guard name.hasPrefix("models--"), FileSystem.isDirectory(url.path + "/snapshots") else { return nil }
        let id = name.dropFirst("models--".count).replacingOccurrences(of: "--", with: "/")
        var refs: [(String, String)] = []
        FileSystem.forEachEntry(under: url.path + "/refs") { entry, status in
            guard (status.st_mode & S_IFMT) == S_IFREG, let text = try? FileSystem.read(entry) else { return }
            let hash = String(decoding: text, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            refs.append((String(entry.dropFirst(url.path.count + "/refs/".count)), hash))
        }
        let snapshots = ((try? FileSystem.listDirectory(url.path + "/snapshots")) ?? []).filter {
            FileSystem.isDirectory(url.path + "/snapshots/" + $0)
        }
        return (
            HuggingFaceRepository(
                folder: url.path, id: id, refs: refs.sorted { $0.0 < $1.0 }, snapshots: snapshots),
            commit
        )
    }

    /// Every model repository of a hub cache folder, by id.
    package static func repositories(in cache: String) throws -> [HuggingFaceRepository] {
        let names: [String]
        do {
            names = try FileSystem.listDirectory(cache)
        } catch {
            throw StoreError(.io, "cannot read the hub cache \(cache): \(error)", underlying: error)
        }
        return names.filter { $0.hasPrefix("models--") }.compactMap { locate(cache + "/" + $0)?.repository }
    }

    /// Bytes of the repository's blobs: what it takes on disk (`hf scan-cache`'s size on disk).
    package var diskBytes: UInt64 { FileSystem.regularFileBytes(under: folder + "/blobs") }

    package var mainCommit: String? { refs.first { $0.name == "main" }?.commit }

    /// The snapshot a repository folder stands for: `refs/main`'s, else its only one.
    package func defaultSnapshot() throws -> String {
        if let main = mainCommit, snapshots.contains(main) { return main }
        if snapshots.count == 1, let only = snapshots.first { return only }
        let listed = snapshots.isEmpty ? "none" : snapshots.joined(separator: ", ")
        throw StoreError(
            .invalidArgument,
            "\(folder): refs/main names no cached snapshot (cached: \(listed)); give a snapshot folder or --all-revisions"
        )
    }

    /// The ref that names `commit` (main first), nil when none does.
    package func ref(of commit: String) -> String? {
        if mainCommit == commit { return "main" }
        return refs.first { $0.commit == commit }?.name
    }

    /// `ORG/NAME` for the revision `refs/main` points to; `ORG/NAME@REF` for another ref's, `ORG/NAME@COMMIT12` for
    /// a snapshot no ref names.
    package func modelName(ofSnapshot commit: String) -> String {
        switch ref(of: commit) {
        case "main": return id
        case let ref?: return id + "@" + ref.replacingOccurrences(of: "/", with: "-")
        case nil: return id + "@" + commit.prefix(12)
        }
    }
}

/// What a model's own files say about where it comes from: the parent it names in its model card (`base_model`),
/// its adapter config (`base_model_name_or_path`) or its config (`_name_or_path`, when that is not itself).
enum DeclaredParent {
    static func find(in folder: String, ownNames: Set<String>) -> String? {
        if let card = try? FileSystem.read(folder + "/README.md"),
            let parent = baseModel(inCard: String(decoding: card, as: UTF8.self))
        {
            return parent
        }
        for (file, key) in [("adapter_config.json", "base_model_name_or_path"), ("config.json", "_name_or_path")] {
            guard let bytes = try? FileSystem.read(folder + "/" + file),
                let value = (try? StrictJSONParser.parse(bytes))?[key]?.stringValue
            else { continue }
            let name = value.trimmingCharacters(in: .whitespaces)
            let last = name.split(separator: "/").last.map(String.init) ?? name
            if !name.isEmpty && !ownNames.contains(name) && !ownNames.contains(last) { return name }
        }
        return nil
    }

    /// `base_model` of a model card's YAML front matter: `base_model: org/x`, or the first item of a list under it.
    static func baseModel(inCard text: String) -> String? {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map {
            $0.trimmingCharacters(in: .whitespaces)
        }
        guard lines.first == "---" else { return nil }
        func unquoted(_ value: some StringProtocol) -> String {
            value.trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "\"'"))
        }
        for (index, line) in lines.enumerated().dropFirst() {
            if line == "---" { break }
            guard line.hasPrefix("base_model:") else { continue }
            let inline = unquoted(line.dropFirst("base_model:".count))
            if inline.hasPrefix("[") {
                return inline.dropFirst().split(separator: ",").first.map {
                    unquoted($0.replacingOccurrences(of: "]", with: ""))
                }
            }
            if !inline.isEmpty { return inline }
            let item = lines.dropFirst(index + 1).first { !$0.isEmpty }
            if let item, item.hasPrefix("- ") { return unquoted(item.dropFirst(2)) }
            return nil
        }
        return nil
    }
}
