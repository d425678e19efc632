package import PBRCore

/// An OCI content descriptor (image-spec `descriptor.md`).
package struct Descriptor: Codable, Sendable, Equatable {
    package var mediaType: String
    package var digest: OCIDigest
    package var size: UInt64
    package var artifactType: String?
    package var annotations: [String: String]?

    package init(
        mediaType: String, digest: OCIDigest, size: UInt64, artifactType: String? = nil,
        annotations: [String: String]? = nil
    ) {
        self.mediaType = mediaType
        self.digest = digest
        self.size = size
        self.artifactType = artifactType
        self.annotations = annotations
    }

    enum CodingKeys: String, CodingKey { case mediaType, digest, size, artifactType, annotations }

    package init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        mediaType = try container.decode(String.self, forKey: .mediaType)
        let text = try container.decode(String.self, forKey: .digest)
        do {
            digest = try OCIDigest(parsing: text)
        } catch {
            throw DecodingError.dataCorruptedError(forKey: .digest, in: container, debugDescription: error.message)
        }
        size = try container.decode(UInt64.self, forKey: .size)
        artifactType = try container.decodeIfPresent(String.self, forKey: .artifactType)
        annotations = try container.decodeIfPresent([String: String].self, forKey: .annotations)
    }

    package func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(mediaType, forKey: .mediaType)
        try container.encode(digest.description, forKey: .digest)
        try container.encode(size, forKey: .size)
        try container.encodeIfPresent(artifactType, forKey: .artifactType)
        try container.encodeIfPresent(annotations, forKey: .annotations)
    }
}

/// An OCI image manifest (image-spec v1.1 `manifest.md`), as pbrepo writes one per model.
package struct ImageManifest: Codable, Sendable, Equatable {
    package var schemaVersion: Int = 2
    package var mediaType: String? = MediaType.imageManifest
    package var artifactType: String?
    package var config: Descriptor
    package var layers: [Descriptor]
    package var subject: Descriptor?
    package var annotations: [String: String]?

    package init(
        artifactType: String?, config: Descriptor, layers: [Descriptor], annotations: [String: String]? = nil
    ) {
        self.artifactType = artifactType
        self.config = config
        self.layers = layers
        self.annotations = annotations
    }
}

/// An OCI image index: the manifests of a family.
package struct ImageIndex: Codable, Sendable, Equatable {
    package var schemaVersion: Int = 2
    package var mediaType: String? = MediaType.imageIndex
    package var artifactType: String?
    package var manifests: [Descriptor]
    package var annotations: [String: String]?

    package init(artifactType: String?, manifests: [Descriptor], annotations: [String: String]? = nil) {
        self.artifactType = artifactType
        self.manifests = manifests
        self.annotations = annotations
    }
}

/// Limits on documents from a registry, checked before anything is decoded or allocated for them.
package enum OCILimits {
    /// The largest manifest a registry must accept (distribution-spec) and the most distribution 2.8.2/3.x take.
    package static let manifestBytes = 4 << 20
    /// The most layers pbrepo accepts in one manifest: a 4 MiB manifest holds ~18,500 descriptors; a layer list
    /// naming more is a hostile one, refused before its blobs are looked at.
    package static let layers = 20_000
}

extension ImageManifest {
    /// Decodes and checks a manifest a registry sent: the size limit, the JSON, `schemaVersion` 2, the `mediaType`
    /// (when present) against what the response's `Content-Type` said, and the layer count.
    package init(decoding bytes: [UInt8], contentType: String?, name: String) throws(OCIError) {
        guard bytes.count <= OCILimits.manifestBytes else {
            throw OCIError(
                .invalidManifest, "manifest \(name) is \(bytes.count) bytes, over the \(OCILimits.manifestBytes) limit")
        }
        let value: JSONValue
        do {
            value = try StrictJSONParser.parse(bytes)
        } catch {
            throw OCIError(.invalidManifest, "manifest \(name) is not JSON: \(error)")
        }
        if case .array(let layers)? = value["layers"], layers.count > OCILimits.layers {
            throw OCIError(
                .invalidManifest, "manifest \(name) lists \(layers.count) layers, over the \(OCILimits.layers) limit")
        }
        do {
            self = try JSONValueDecoder().decode(ImageManifest.self, from: value)
        } catch {
            throw OCIError(.invalidManifest, "manifest \(name) is not an OCI image manifest: \(error)")
        }
        guard schemaVersion == 2 else {
            throw OCIError(.invalidManifest, "manifest \(name) has schemaVersion \(schemaVersion), not 2")
        }
        if let mediaType, mediaType != MediaType.imageManifest {
            throw OCIError(.invalidManifest, "manifest \(name) is a \(mediaType), not an OCI image manifest")
        }
        if let contentType, let mediaType, contentType != mediaType {
            throw OCIError(
                .invalidManifest, "manifest \(name) says it is a \(mediaType) but was served as \(contentType)")
        }
    }
}

extension JSONValue {
    /// The value with every object's members in key order: the one byte form pbrepo writes for documents whose
    /// digest must not depend on who wrote them (manifests, recipes, model indexes).
    package var canonical: JSONValue {
        switch self {
        case .object(let members):
            return .object(
                members.sorted { Array($0.key.utf8).lexicographicallyPrecedes(Array($1.key.utf8)) }
                    .map { ($0.key, $0.value.canonical) })
        case .array(let values): return .array(values.map(\.canonical))
        default: return self
        }
    }
}

/// Canonical JSON bytes of `value`: members in key order, no whitespace.
package func canonicalJSON(_ value: some Encodable) throws -> [UInt8] {
    try JSONValueEncoder().encode(value).canonical.utf8
}
