/// What the index holds about one model besides its recipe: the rows `ingest` writes and a pull writes again in
/// another store (the model index layer of an OCI artifact, docs/distribution.md). Source files are the recipe's
/// files; object rows come from the object files themselves.
package struct ModelRecord: Codable, Sendable, Equatable {
    package var name: String
    package var family: String
    package var baseModel: String?
    package var format: String
    /// Where the model was ingested from (a path), or pulled from (a reference).
    package var source: String
    package var rules: String?
    package var bytes: UInt64
    package var ingestedAt: String
    package var blocks: [Block]
    package var tensors: [Tensor]
    /// The objects the model's rows name (tensors, headers, skeletons, whole files, chunks), without delta bases.
    package var objects: [String]

    package struct Block: Codable, Sendable, Equatable {
        package var digest: String
        package var name: String
        package var kind: String
        package var bytes: UInt64
        package var tensorCount: Int
    }

    package struct Tensor: Codable, Sendable, Equatable {
        package var name: String
        package var dtype: String
        /// `[d0,d1,…]`.
        package var shape: String
        package var bytes: UInt64
        package var digest: String
        /// The block holding it (-1 for none) and its place there.
        package var blockPosition: Int
        package var indexInBlock: Int
        /// The object holding its bytes, when it has one of its own.
        package var object: String?
    }
}
