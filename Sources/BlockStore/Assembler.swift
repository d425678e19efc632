import Crypto
import Dispatch
import Foundation
import Glibc
package import PBRCore
import Synchronization
import TensorFiles
package import XXHash

/// What `assemble` produced.
package struct AssembleResult: Sendable, Equatable {
    package var model: String
    package var output: String
    package var files: Int
    package var bytes: UInt64
    /// Whether every file's SHA-256 was computed and compared (asked for, or the recipe predates XXH3 checks).
    package var sha256Verified: Bool
    /// Temporary files and directories that killed runs had left beside the output, removed first (F-27).
    package var staleTemporariesRemoved: [String] = []
    /// Seconds per stage (`check`, `decode` summed over the decoding threads, `wait_for_decode`, `hash`, `write`,
    /// `commit`: fsync and rename) and `total`.
    package var stages: [StageTime] = []
}

/// Rebuilds a model's files from a recipe and a directory of objects (the store's, or one `export-blocks` wrote).
package enum Assembler {
    /// Every object the recipe needs, with the chunks of lists and the bases of delta objects, each once.
    package static func requiredObjects(_ recipe: Recipe, in objects: ObjectDirectory) -> (
        present: [XXH3Digest], missing: [String]
    ) {
        var present: [XXH3Digest] = []
        var missing: [String] = []
        var seen = Set<String>()
        var queue = recipe.objects
        var next = 0
        while next < queue.count {
            let name = queue[next]
            next += 1
            guard seen.insert(name).inserted else { continue }
            guard let digest = XXH3Digest(hex: name), objects.contains(digest) else {
                missing.append(name)
                continue
            }
            present.append(digest)
            if let references = try? objects.references(of: digest) { queue += references.map(\.description) }
        }
        return (present, missing)
    }

    /// Checks, before anything is written, that the recipe adds up: every file has a plain name of its own, and its
    /// parts (as the objects' headers give their lengths, and the extents their places) make exactly the size the
    /// recipe declares, with no arithmetic that overflows — a crafted recipe must not make assemble write gigabytes
    /// before it notices, or trap, or write outside its output.
    static func check(_ recipe: Recipe, objects: ObjectDirectory) throws {
        func length(_ name: String, in file: Recipe.File) throws -> UInt64 {
            guard let digest = XXH3Digest(hex: name) else {
                throw StoreError(.corruptObject, "recipe of \(recipe.model) has an invalid object name in \(file.path)")
            }
            return try objects.rawLength(of: digest)
        }
        func damaged(_ file: Recipe.File, _ what: String) -> StoreError {
            StoreError(.corruptObject, "recipe of \(recipe.model) is damaged: \(file.path) \(what)")
        }
        func unsafe(_ path: String) -> StoreError {
            StoreError(.corruptObject, "recipe of \(recipe.model) names an unsafe path \"\(path)\"")
        }
        // Folders are written inside a fresh staging directory, so relative paths whose every component is a plain
        // name cannot reach outside it; a single-file model has no folders at all.
        func isPlain(_ path: String) -> Bool {
            let components = path.split(separator: "/", omittingEmptySubsequences: false)
            return !path.utf8.contains(0) && (recipe.layout == .directory || components.count == 1)
                && components.allSatisfy { !$0.isEmpty && $0 != "." && $0 != ".." }
        }
        var total: UInt64 = 0
        var paths = Set<String>()
        var folders = Set<String>()
        for path in recipe.files.map(\.path) + (recipe.directories ?? []) {
            guard isPlain(path) else { throw unsafe(path) }
            var parent = Substring(path)
            while let cut = parent.lastIndex(of: "/") {
                parent = parent[..<cut]
                folders.insert(String(parent))
            }
        }
        if let clash = recipe.files.first(where: { folders.contains($0.path) }) {
            throw damaged(clash, "is both a file and a folder")
        }
        for file in recipe.files {
            guard paths.insert(file.path).inserted else { throw damaged(file, "is named twice") }
            var size: UInt64 = 0
            func add(_ count: UInt64) throws {
                let (sum, overflow) = size.addingReportingOverflow(count)
                guard !overflow else { throw damaged(file, "has parts whose sizes overflow") }
                size = sum
            }
            switch file.content {
            case .safetensors(let header, let tensors):
                for name in [header] + tensors { try add(try length(name, in: file)) }
            case .hdf5(let skeleton, let extents):
                let skeletonLength = try length(skeleton, in: file)
                var end: UInt64 = 0
                for extent in extents {
                    let (extentEnd, overflow) = extent.offset.addingReportingOverflow(extent.length)
                    guard !overflow, extent.offset >= end, extentEnd <= file.size else {
                        throw damaged(file, "has extents out of order or past its end")
                    }
                    guard try length(extent.object, in: file) == extent.length else {
                        throw damaged(file, "has an extent whose object is not \(extent.length) bytes")
                    }
                    end = extentEnd
                    try add(extent.length)
                }
                try add(skeletonLength)
            case .verbatim(let object):
                try add(try length(object, in: file))
            }
            guard size == file.size else { throw damaged(file, "is made of \(size) bytes but declares \(file.size)") }
            let (sum, overflow) = total.addingReportingOverflow(size)
            guard !overflow else { throw damaged(file, "makes the model's size overflow") }
            total = sum
        }
    }

    /// How `assemble` checks what it writes.
    package struct Options: Sendable, Equatable {
        /// Also compute each file's SHA-256 and compare it with the one recorded at ingest. Every object is always
        /// checked against its XXH3-128 digest, and every file against its whole-file XXH3-128, which already
        /// proves the bytes equal to the ingested ones; SHA-256 adds a cryptographic check at some cost in speed.
        package var sha256: Bool
        /// Replace a file or directory already at the output (`--force`); without it, an existing output is refused.
        package var overwrite: Bool

        package init(sha256: Bool = false, overwrite: Bool = false) {
            self.sha256 = sha256
            self.overwrite = overwrite
        }
    }

    /// Where a model goes for `-o output`, as `cp` would put it: a single-file model given a directory (an existing
    /// one, or any path ending in `/`) goes inside it under its file name; anything else is the path itself. An
    /// existing output is refused unless `overwrite`.
    package static func destination(of recipe: Recipe, output: String, overwrite: Bool) throws -> String {
        var destination = output
        while destination.count > 1 && destination.hasSuffix("/") && recipe.layout == .directory {
            destination.removeLast()
        }
        if recipe.layout == .file, let name = recipe.files.first?.path,
            output.hasSuffix("/") || FileSystem.isDirectory(output)
        {
            destination = (output.hasSuffix("/") ? String(output.dropLast()) : output) + "/" + name
        }
        var status = stat()
        guard lstat(destination, &status) == 0 else { return destination }
        let isDirectory = (status.st_mode & S_IFMT) == S_IFDIR
        guard overwrite else {
            throw StoreError(
                .outputExists,
                "\(destination) exists; pass --force to replace it\(recipe.layout == .file ? ", or -o DIRECTORY/ to write into a directory" : "")"
            )
        }
        if isDirectory != (recipe.layout == .directory) {
            throw StoreError(
                .outputExists,
                "\(destination) is a \(isDirectory ? "directory" : "file"); \(recipe.model) is assembled to a "
                    + "\(recipe.layout == .directory ? "directory" : "file"), and --force replaces only its like")
        }
        return destination
    }

    /// Writes the model to `output`: a file for a single-file model, a new directory for a directory model.
    ///
    /// Every object is checked against its digest while it is decoded and every file against the whole-file digest
    /// recorded at ingest before it is moved into place; nothing appears at `output` unless all of it is right.
    ///
    /// - Throws: `StoreError` `.missingObject` listing what is missing (before anything is written),
    ///   `.corruptObject` naming the object, `.checksumMismatch` naming the file.
    package static func assemble(
        _ recipe: Recipe, objects: ObjectDirectory, to output: String, options: Options = Options(),
        progress: (@Sendable (UInt64, UInt64) -> Void)? = nil
    ) throws -> AssembleResult {
        let clock = StageClock()
        let required = clock.measure("check") { requiredObjects(recipe, in: objects) }
        if !required.missing.isEmpty {
            let shown = required.missing.prefix(10).joined(separator: ", ")
            let more = required.missing.count > 10 ? " and \(required.missing.count - 10) more" : ""
            throw StoreError(
                .missingObject,
                "model \(recipe.model): \(required.missing.count) object(s) missing from \(objects.root): \(shown)\(more)"
            )
        }
        try clock.measure("check") { try check(recipe, objects: objects) }
        let output = try destination(of: recipe, output: output, overwrite: options.overwrite)
        let parent = AtomicFile.directory(of: output)
        try makeDirectories(parent)
        let stale = AtomicFile.removeStaleTemporaries(in: parent)
        let total = recipe.files.reduce(0) { $0 + $1.size }  // cannot overflow: checked above
        var done: UInt64 = 0
        func write(_ file: Recipe.File, to path: String, replacing: Bool = true) throws {
            try Self.write(
                file, of: recipe, objects: objects, to: path, options: options, replacing: replacing, clock: clock
            ) {
                done += $0
                progress?(done, total)
            }
        }
        switch recipe.layout {
        case .file:
            guard let file = recipe.files.first, recipe.files.count == 1 else {
                throw StoreError(
                    .corruptObject, "recipe of \(recipe.model) has \(recipe.files.count) files for a single-file model")
            }
            try write(file, to: output, replacing: options.overwrite)
        case .directory:
            // A fresh directory of an unpredictable name that nobody else can have planted (mkdtemp: O_EXCL, 0700),
            // opened up to the usual permissions only once it is complete and moved into place.
            let template =
                parent + "/" + AtomicFile.temporaryPrefix
                + (output.split(separator: "/").last.map(String.init) ?? "model")
                + ".XXXXXX"
            var failure: Int32 = 0
            let made = Interruption.creatingTemporary { () -> (result: String, path: String)? in
                var bytes = Array(template.utf8CString)
                guard let created = mkdtemp(&bytes) else {
                    failure = errno
                    return nil
                }
                let path = String(cString: created)
                return (path, path)
            }
            guard let made else {
                throw StoreError(.io, "cannot create a directory in \(parent): \(String(cString: strerror(failure)))")
            }
            let staging = made.result
            defer { Interruption.unregister(made.token) }
            do {
                for folder in recipe.directories ?? [] { try makeDirectories(staging + "/" + folder) }
                for file in recipe.files {
                    if let cut = file.path.lastIndex(of: "/") {
                        try makeDirectories(staging + "/" + file.path[..<cut])
                    }
                    try write(file, to: staging + "/" + file.path)
                }
                let mask = umask(0)
                umask(mask)
                chmod(staging, 0o777 & ~mask)
                if options.overwrite && FileSystem.isDirectory(output) {
                    // Swapped in one step, so that the output is always either the old model or the new one.
                    guard FileSystem.exchange(staging, output) else {
                        throw StoreError(
                            .io, "cannot replace the directory \(output): \(String(cString: strerror(errno)))")
                    }
                    _ = FileSystem.removeTree(staging)
                } else {
                    // No replacing rename of a directory: one that appeared meanwhile makes this fail (ENOTEMPTY).
                    guard rename(staging, output) == 0 else {
                        throw StoreError(
                            .io,
                            "cannot move the assembled directory to \(output): \(String(cString: strerror(errno)))")
                    }
                }
                AtomicFile.syncDirectory(AtomicFile.directory(of: output))
            } catch {
                FileSystem.removeTree(staging)
                throw error
            }
        }
        return AssembleResult(
            model: recipe.model, output: output, files: recipe.files.count, bytes: total,
            sha256Verified: options.sha256 || recipe.files.allSatisfy { $0.xxh3 == nil },
            staleTemporariesRemoved: stale, stages: clock.stages)
    }

    static func write(
        _ file: Recipe.File, of recipe: Recipe, objects: ObjectDirectory, to path: String, options: Options,
        replacing: Bool = true, clock: StageClock = StageClock(), advanced: (UInt64) -> Void
    ) throws {
        // Model files are large, written once and then read by another program: direct I/O makes them durable at
        // the disk's speed without first filling the page cache.
        let output = try AtomicFile(destination: path, directIO: file.size >= 1 << 20)
        let checkSHA256 = options.sha256 || file.xxh3 == nil
        var sha = SHA256()
        var xxh = XXH3Hasher()
        var written: UInt64 = 0
        func emit(_ bytes: UnsafeRawBufferPointer) throws {
            clock.measure("hash") {
                if checkSHA256 { sha.update(bufferPointer: bytes) }
                xxh.update(bytes)
            }
            try clock.measure("write") { try output.write(bytes) }
            written += UInt64(bytes.count)
            advanced(UInt64(bytes.count))
        }
        func content(_ hex: String) throws -> [UInt8] {
            guard let digest = XXH3Digest(hex: hex) else {
                throw StoreError(.corruptObject, "recipe of \(recipe.model) has an invalid object name in \(file.path)")
            }
            return try objects.content(of: digest)
        }
        switch file.content {
        case .safetensors(let header, let tensors):
            try content(header).withUnsafeBytes { try emit($0) }
            try decodeInOrder(tensors, objects: objects, model: recipe.model, clock: clock) { _, _, data in
                try emit(data)
            }
        case .hdf5(let skeletonObject, let extents):
            let skeleton = try content(skeletonObject)
            var cursor = 0
            var current: (extent: Int, bytes: UInt64)?
            func finishExtent() throws {
                guard let current, current.bytes != extents[current.extent].length else { return }
                let extent = extents[current.extent]
                throw StoreError(
                    .corruptObject, "object \(extent.object) has \(current.bytes) bytes, extent wants \(extent.length)")
            }
            try decodeInOrder(extents.map(\.object), objects: objects, model: recipe.model, clock: clock) {
                index, first, data in
                if first {
                    try finishExtent()
                    let extent = extents[index]
                    // Offsets are within the file's declared size (check), which is within memory.
                    let gap = Int(extent.offset - min(extent.offset, written))
                    guard extent.offset >= written, cursor + gap <= skeleton.count else {
                        throw StoreError(
                            .corruptObject, "recipe of \(recipe.model): extents of \(file.path) out of order")
                    }
                    try skeleton.withUnsafeBytes {
                        try emit(UnsafeRawBufferPointer(rebasing: $0[cursor..<(cursor + gap)]))
                    }
                    cursor += gap
                    current = (index, 0)
                }
                current?.bytes += UInt64(data.count)
                try emit(data)
            }
            try finishExtent()
            try skeleton.withUnsafeBytes { try emit(UnsafeRawBufferPointer(rebasing: $0[cursor...])) }
        case .verbatim(let object):
            try decodeInOrder([object], objects: objects, model: recipe.model, clock: clock) { _, _, data in
                try emit(data)
            }
        }
        guard written == file.size else {
            throw StoreError(
                .checksumMismatch,
                "assembled \(file.path) of \(recipe.model) has \(written) bytes, ingested file had \(file.size)")
        }
        if let expected = file.xxh3 {
            let actual = xxh.finalize().description
            guard actual == expected else {
                throw StoreError(
                    .checksumMismatch,
                    "assembled \(file.path) of \(recipe.model) has XXH3-128 \(actual), ingested file had \(expected)")
            }
        }
        if checkSHA256 {
            let actual = lowercaseHex(sha.finalize())
            guard actual == file.sha256 else {
                throw StoreError(
                    .checksumMismatch,
                    "assembled \(file.path) of \(recipe.model) has sha256 \(actual), ingested file had \(file.sha256)")
            }
        }
        guard try clock.measure("commit", { try output.commit(replacing: replacing) }) else {
            throw StoreError(.outputExists, "\(path) appeared while it was being assembled; pass --force to replace it")
        }
    }

    /// Decodes objects on all cores and hands their contents to `body` in order — a list's chunk by chunk, each
    /// chunk a piece (`first` is true for an object's first piece) — while the workers go on decoding the next
    /// ones: writing overlaps decoding, and memory holds at most a window of decoded pieces (one per worker and the
    /// one being written), whatever the objects' sizes. Pieces are decoded into buffers of the shared scratch pool,
    /// which the next pieces reuse.
    ///
    /// A list's whole digest is not computed again: each chunk is checked against its own, the list against its
    /// file checksum, and the file the pieces go into against its whole-file digest.
    static func decodeInOrder(
        _ names: [String], objects: ObjectDirectory, model: String, clock: StageClock = StageClock(),
        _ body: (_ index: Int, _ first: Bool, UnsafeRawBufferPointer) throws -> Void
    ) throws {
        struct Piece: Sendable {
            var owner: Int
            var digest: XXH3Digest
            var chunk: StoredObject.Chunk?
        }
        var pieces: [Piece] = []
        for (index, name) in names.enumerated() {
            guard let digest = XXH3Digest(hex: name) else {
                throw StoreError(.corruptObject, "recipe of \(model) has an invalid object name \(name)")
            }
            if let chunks = try objects.chunks(of: digest) {
                pieces += chunks.map { Piece(owner: index, digest: digest, chunk: $0) }
            } else {
                pieces.append(Piece(owner: index, digest: digest))
            }
        }
        // One piece per worker in flight besides the one being written: with the store's 64 MiB chunks a 2-core
        // assembly holds three decoded pieces (it held five before pulls were given a memory bound, issue 14).
        let workers = Parallel.workers
        let pipeline = OrderedPipeline<ScratchBuffer>(count: pieces.count, window: workers)
        let planned = pieces
        for _ in 0..<workers {
            pipeline.startWorker { index in
                try clock.measure("decode") {
                    let piece = planned[index]
                    guard let chunk = piece.chunk else { return try objects.decoded(piece.digest) }
                    return try objects.decoded(chunk: chunk, of: piece.digest)
                }
            }
        }
        defer { pipeline.cancelAndJoin() }
        for index in pieces.indices {
            let data = try clock.measure("wait_for_decode") { try pipeline.take(index) }
            let first = index == 0 || pieces[index - 1].owner != pieces[index].owner
            try data.withBytes { try body(pieces[index].owner, first, $0) }
        }
    }

    /// Reads `<model>.recipe.json` from a directory written by `export-blocks`.
    package static func recipe(from directory: String, model: String) throws -> Recipe {
        try ModelName.check(model)
        let path = directory + "/" + model + ".recipe.json"
        guard FileManager.default.fileExists(atPath: path) else {
            throw StoreError(.unknownModel, "no recipe for model \(model) in \(directory) (\(path))")
        }
        let bytes: [UInt8]
        do {
            bytes = try FileSystem.read(path)
        } catch {
            throw StoreError(.io, "cannot read \(path): \(error)", underlying: error)
        }
        return try recipe(decoding: bytes, path: path, model: model)
    }

    /// Decodes the bytes of a recipe file of `model` (read from `path`, which messages name).
    package static func recipe(decoding bytes: [UInt8], path: String, model: String) throws -> Recipe {
        let recipe: Recipe
        do {
            recipe = try JSONValueDecoder().decode(Recipe.self, from: bytes)
        } catch {
            throw StoreError(.corruptObject, "\(path) is not a valid recipe: \(describe(error))", underlying: error)
        }
        guard Recipe.readableSchemas.contains(recipe.schema) else {
            throw StoreError(
                .corruptObject,
                "\(path) is a \(recipe.schema) recipe; this pbrepo reads \(Recipe.readableSchemas.sorted().joined(separator: " and ")) (a newer pbrepo wrote it?)"
            )
        }
        guard recipe.model == model else {
            throw StoreError(.corruptObject, "\(path) is a recipe of model \(recipe.model), not of \(model)")
        }
        return recipe
    }
}

extension Store {
    /// The recipe recorded for `model`.
    package func recipe(of model: String) throws -> Recipe {
        let text = try index.recipeText(of: model)
        guard let text else { throw unknownModel(model) }
        let recipe: Recipe
        do {
            recipe = try JSONValueDecoder().decode(Recipe.self, from: Array(text.utf8))
        } catch {
            throw StoreError(.database, "the recipe of \(model) in the index is unreadable: \(describe(error))")
        }
        guard Recipe.readableSchemas.contains(recipe.schema) else {
            throw StoreError(
                .database, "the recipe of \(model) is a \(recipe.schema) recipe, which this pbrepo cannot read")
        }
        return recipe
    }

    /// Rebuilds `model` from the store's objects (see `Assembler.assemble`).
    package func assemble(
        _ model: String, to output: String, options: Assembler.Options = .init(),
        progress: (@Sendable (UInt64, UInt64) -> Void)? = nil
    ) throws -> AssembleResult {
        rememberOutputDirectory(AtomicFile.directory(of: output))
        return try Assembler.assemble(
            try recipe(of: model), objects: objects, to: output, options: options, progress: progress)
    }

    /// Rebuilds a model from `objects` (a staging directory reading the rest from the store, as a pull has it)
    /// before the model is recorded: the assembly checks every object it decodes, so a pull with an output need not
    /// decode them once more to check them.
    package func assemble(
        _ recipe: Recipe, from objects: ObjectDirectory, to output: String, options: Assembler.Options = .init(),
        progress: (@Sendable (UInt64, UInt64) -> Void)? = nil
    ) throws -> AssembleResult {
        rememberOutputDirectory(AtomicFile.directory(of: output))
        return try Assembler.assemble(recipe, objects: objects, to: output, options: options, progress: progress)
    }

    /// Writes what a client must download for `model` into `directory`: the objects (with delta bases) under
    /// `objects/` and `<model>.recipe.json`. Several models can share one directory (and their objects).
    package func exportBlocks(_ model: String, to directory: String) throws -> (objects: Int, bytes: UInt64) {
        let recipe = try recipe(of: model)
        let required = Assembler.requiredObjects(recipe, in: objects)
        if !required.missing.isEmpty {
            throw StoreError(
                .missingObject,
                "model \(model): objects missing from the store: \(required.missing.prefix(10).joined(separator: ", "))"
            )
        }
        rememberOutputDirectory(directory)
        let target = ObjectDirectory(root: directory)
        var bytes: UInt64 = 0
        for digest in required.present {
            try objects.withObject(digest) { object in
                bytes += UInt64(object.count)
                // An object already in the directory stays only when it is intact; a damaged one is replaced.
                let intact =
                    (try? target.withObject(digest) { try StoredObject.checkFile($0, name: "\(digest)") }) == true
                if !intact { try target.write(Array(object), digest: digest, replacing: target.contains(digest)) }
            }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        if let organisation = ModelName.organisation(of: model) {
            try makeDirectories(directory + "/" + organisation)
        }
        try FileSystem.writeAtomically(
            [UInt8](try encoder.encode(recipe)) + [0x0A], to: directory + "/" + model + ".recipe.json")
        return (required.present.count, bytes)
    }
}
