/// Everything the assembler needs to rebuild a model's files, byte for byte, from objects.
///
/// Stored in the index with each model and written as `<model>.recipe.json` by `export-blocks`, next to the objects
/// it names.
public struct Recipe: Codable, Sendable, Equatable {
    public static let schemaID = "pbrepo.recipe/v1"

    public enum Layout: String, Codable, Sendable {
        /// One file: the model was ingested from a file and is assembled to a file.
        case file
        /// A directory of files (shards, index, config): assembled into a directory.
        case directory
    }

    public struct File: Codable, Sendable, Equatable {
        public enum Kind: String, Codable, Sendable {
            /// `header` object (8-byte length + header bytes), then the `tensors` objects in data order.
            case safetensors
            /// The `skeleton` object with each extent's object spliced in at its offset.
            case hdf5
            /// One object, the whole file.
            case verbatim
        }

        public struct Extent: Codable, Sendable, Equatable {
            public var offset: UInt64
            public var length: UInt64
            public var object: String
        }

        /// Relative to the model's directory (for `file` layout: the original file name).
        public var path: String
        public var kind: Kind
        public var size: UInt64
        public var sha256: String
        /// XXH3-128 of the whole file, what `assemble` checks its output against (recipes of pre-release builds
        /// lack it; the assembler checks the sha256 then).
        public var xxh3: String?
        public var header: String?
        public var tensors: [String]?
        public var skeleton: String?
        public var extents: [Extent]?
        public var object: String?

        /// Every object this file is made of, in the order the assembler reads them.
        public var objects: [String] {
            switch kind {
            case .safetensors: return [header].compactMap { $0 } + (tensors ?? [])
            case .hdf5: return [skeleton].compactMap { $0 } + (extents ?? []).map(\.object)
            case .verbatim: return [object].compactMap { $0 }
            }
        }
    }

    public var schema: String
    public var model: String
    public var layout: Layout
    public var files: [File]

    /// Every object the model needs (without delta bases), each once, in first-use order.
    public var objects: [String] {
        var seen = Set<String>()
        return files.flatMap(\.objects).filter { seen.insert($0).inserted }
    }
}
