/// Everything the assembler needs to rebuild a model's files, byte for byte, from objects.
///
/// Stored in the index with each model and written as `<model>.recipe.json` by `export-blocks`, next to the objects
/// it names.
package struct Recipe: Codable, Sendable, Equatable {
    /// A recipe of files in one folder: what every pbrepo build reads.
    package static let schemaID = "pbrepo.recipe/v1"
    /// A recipe of a folder tree (a file in a sub-folder, or an empty folder): builds that predate trees refuse it by
    /// its schema rather than misread it.
    package static let treeSchemaID = "pbrepo.recipe/v2"
    package static let readableSchemas: Set<String> = [schemaID, treeSchemaID]

    package enum Layout: String, Codable, Sendable {
        /// One file: the model was ingested from a file and is assembled to a file.
        case file
        /// A directory of files (shards, index, config): assembled into a directory.
        case directory
    }

    package struct File: Codable, Sendable, Equatable {
        package enum Kind: String, Codable, Sendable {
            case safetensors, hdf5, verbatim
        }

        package struct Extent: Codable, Sendable, Equatable {
            package var offset: UInt64
            package var length: UInt64
            package var object: String

            package init(offset: UInt64, length: UInt64, object: String) {
                self.offset = offset
                self.length = length
                self.object = object
            }
        }

        /// What the file is made of; object names are XXH3-128 digests in hex.
        package enum Content: Sendable, Equatable {
            /// The `header` object (8-byte length + header bytes), then the `tensors` objects in data order.
            case safetensors(header: String, tensors: [String])
            /// The `skeleton` object with each extent's object spliced in at its offset.
            case hdf5(skeleton: String, extents: [Extent])
            /// One object, the whole file.
            case verbatim(object: String)
        }

        /// Relative to the model's directory (for `file` layout: the original file name).
        package var path: String
        package var size: UInt64
        package var sha256: String
        /// XXH3-128 of the whole file, what `assemble` checks its output against (recipes of pre-release builds
        /// lack it; the assembler checks the sha256 then).
        package var xxh3: String?
        package var content: Content

        package init(path: String, size: UInt64, sha256: String, xxh3: String? = nil, content: Content) {
            self.path = path
            self.size = size
            self.sha256 = sha256
            self.xxh3 = xxh3
            self.content = content
        }

        package var kind: Kind {
            switch content {
            case .safetensors: return .safetensors
            case .hdf5: return .hdf5
            case .verbatim: return .verbatim
            }
        }

        /// Every object this file is made of, in the order the assembler reads them.
        package var objects: [String] {
            switch content {
            case .safetensors(let header, let tensors): return [header] + tensors
            case .hdf5(let skeleton, let extents): return [skeleton] + extents.map(\.object)
            case .verbatim(let object): return [object]
            }
        }

        // The JSON form (`pbrepo.recipe/v1`): `kind` and, by kind, `header`+`tensors`, `skeleton`+`extents` or
        // `object` beside the common members.
        enum CodingKeys: String, CodingKey {
            case path, kind, size, sha256, xxh3, header, tensors, skeleton, extents, object
        }

        package init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            path = try container.decode(String.self, forKey: .path)
            size = try container.decode(UInt64.self, forKey: .size)
            sha256 = try container.decode(String.self, forKey: .sha256)
            xxh3 = try container.decodeIfPresent(String.self, forKey: .xxh3)
            switch try container.decode(Kind.self, forKey: .kind) {
            case .safetensors:
                content = .safetensors(
                    header: try container.decode(String.self, forKey: .header),
                    tensors: try container.decode([String].self, forKey: .tensors))
            case .hdf5:
                content = .hdf5(
                    skeleton: try container.decode(String.self, forKey: .skeleton),
                    extents: try container.decode([Extent].self, forKey: .extents))
            case .verbatim:
                content = .verbatim(object: try container.decode(String.self, forKey: .object))
            }
        }

        package func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(path, forKey: .path)
            try container.encode(kind, forKey: .kind)
            try container.encode(size, forKey: .size)
            try container.encode(sha256, forKey: .sha256)
            try container.encodeIfPresent(xxh3, forKey: .xxh3)
            switch content {
            case .safetensors(let header, let tensors):
                try container.encode(header, forKey: .header)
                try container.encode(tensors, forKey: .tensors)
            case .hdf5(let skeleton, let extents):
                try container.encode(skeleton, forKey: .skeleton)
                try container.encode(extents, forKey: .extents)
            case .verbatim(let object):
                try container.encode(object, forKey: .object)
            }
        }
    }

    package var schema: String
    package var model: String
    package var layout: Layout
    /// Paths relative to the model's folder, `/` between folders.
    package var files: [File]
    /// Folders of the model that hold no file (absent when there is none).
    package var directories: [String]?
    /// Where the model comes from, as far as its files say (absent in recipes of builds before it was recorded).
    package var provenance: Provenance?

    /// Where a model comes from.
    package struct Provenance: Codable, Sendable, Equatable {
        /// `huggingface` for a model ingested from the hub cache.
        package var hub: String?
        /// The hub's repo id, the ref and the commit of the snapshot.
        package var repo: String?
        package var revision: String?
        package var commit: String?
        /// The model it was made from, as its model card, adapter config or config names it; absent when it names
        /// none (then it counts as a base).
        package var parent: String?

        package init(
            hub: String? = nil, repo: String? = nil, revision: String? = nil, commit: String? = nil,
            parent: String? = nil
        ) {
            self.hub = hub
            self.repo = repo
            self.revision = revision
            self.commit = commit
            self.parent = parent
        }
    }

    /// A recipe with the lowest schema that can hold it, unless `schema` is given.
    package init(
        schema: String? = nil, model: String, layout: Layout, files: [File], emptyDirectories: [String] = [],
        provenance: Provenance? = nil
    ) {
        self.provenance = provenance
        self.model = model
        self.layout = layout
        self.files = files
        self.directories = emptyDirectories.isEmpty ? nil : emptyDirectories
        let isTree = !emptyDirectories.isEmpty || files.contains { $0.path.contains("/") }
        self.schema = schema ?? (isTree ? Recipe.treeSchemaID : Recipe.schemaID)
    }

    /// Every object the model needs (without delta bases), each once, in first-use order.
    package var objects: [String] {
        var seen = Set<String>()
        return files.flatMap(\.objects).filter { seen.insert($0).inserted }
    }
}
