/// The media types pbrepo reads and writes (docs/distribution.md). No Docker v2 types: skopeo refuses custom layer
/// types in a Docker manifest, and the OCI types say everything pbrepo needs.
package enum MediaType {
    package static let imageManifest = "application/vnd.oci.image.manifest.v1+json"
    package static let imageIndex = "application/vnd.oci.image.index.v1+json"
    package static let empty = "application/vnd.oci.empty.v1+json"

    /// The `artifactType` of a model's manifest.
    package static let model = "application/vnd.pbrepo.model.v1"
    /// The `artifactType` of a family's index.
    package static let family = "application/vnd.pbrepo.family.v1"
    /// The config blob: the model's recipe, canonical JSON.
    package static let recipe = "application/vnd.pbrepo.recipe.v1+json"
    /// The first layer: the model's index record (blocks, tensors) and where each object is.
    package static let modelIndex = "application/vnd.pbrepo.model-index.v1+json"
    /// A layer that is one store object file, by its codec (`application/vnd.pbrepo.object.v1.zstd`, ...).
    package static func object(codec: String) -> String { "application/vnd.pbrepo.object.v1." + codec }
    package static let objectPrefix = "application/vnd.pbrepo.object.v1."
    /// A layer that is store object files one after another (a pack).
    package static let pack = "application/vnd.pbrepo.pack.v1"

    /// What a client asks for when it fetches a manifest (2.8.2 answers 404 to a client that does not accept OCI).
    package static let manifestAccept = [imageManifest, imageIndex]
}

/// Annotation keys (reverse-domain, `org.opencontainers.*` only for the keys the image spec defines).
package enum AnnotationKey {
    package static let created = "org.opencontainers.image.created"
    package static let title = "org.opencontainers.image.title"
    package static let model = "io.pbrepo.model"
    package static let family = "io.pbrepo.family"
    package static let base = "io.pbrepo.base"
    /// XXH3-128 of an object's decoded content: its name in every pbrepo store.
    package static let objectXXH3 = "io.pbrepo.object.xxh3-128"
    package static let rawSize = "io.pbrepo.object.raw-size"
    package static let codec = "io.pbrepo.object.codec"
    package static let deltaBase = "io.pbrepo.object.delta-base"
    /// A parameter block the object belongs to (its first, when several share it).
    package static let block = "io.pbrepo.block"
    package static let packObjects = "io.pbrepo.pack.objects"
}
