import BlockStore
import XXHash

/// An object file from an untrusted directory. Accepted means it decoded to content matching its digest; then the
/// content must re-encode and decode to itself, and a delta must decode the same way through both decoding paths
/// (against its base's content, and plane by plane against its base object).
enum ObjectHarness {
    static func run(_ input: UnsafeRawBufferPointer) { _ = outcome(input) }

    static func outcome(_ raw: UnsafeRawBufferPointer) -> FuzzOutcome {
        // A hostile directory can give any object a valid file checksum, and a mutation almost never does: the
        // checksum is checked on the input as it is, then set right so that the decoders behind it get fuzzed too.
        _ = try? StoredObject.checkFile(raw, name: "fuzz-input")
        var object = Array(raw)
        if object.count >= StoredObject.headerLength, object[4] == 2 {
            let checksum = object.withUnsafeBytes { StoredObject.fileChecksum($0) }.bytes
            object.replaceSubrange(48..<64, with: checksum)
        }
        return object.withUnsafeBytes { checked(UnsafeRawBufferPointer($0)) }
    }

    private static func checked(_ input: UnsafeRawBufferPointer) -> FuzzOutcome {
        let name = "fuzz-input"
        let header: StoredObject
        do {
            _ = try StoredObject.checkFile(input, name: name)
            header = try StoredObject.validated(input, name: name)
        } catch {
            return .refused("\(error)")
        }
        let content: [UInt8]
        do {
            if header.codec == .xorPlanes {
                content = try decodeDelta(input, header: header)
            } else {
                content = try StoredObject.decode(input, name: name)
            }
        } catch {
            return .refused("\(error)")
        }
        expect(
            UInt64(content.count) == header.rawLength, "decoded \(content.count) bytes, header says \(header.rawLength)"
        )
        expect(xxh3_128(content) == header.digest, "decoded content does not match the header's digest")
        checkRoundTrip(content, header: header)
        return .accepted
    }

    /// Decodes a delta against an all-zero base both ways; the two must agree, in success and in failure.
    private static func decodeDelta(_ input: UnsafeRawBufferPointer, header: StoredObject) throws -> [UInt8] {
        let zeros = [UInt8](repeating: 0, count: Int(header.rawLength))
        let viaContent = Result { try StoredObject.decode(input, name: "fuzz-input", base: zeros) }
        let baseObject = zeros.withUnsafeBytes { zeros in
            try? StoredObject.encode(
                zeros, digest: xxh3_128(zeros), elementSize: header.elementSize, base: nil, level: 1
            ).object
        }
        if let baseObject {
            var viaObject = [UInt8](repeating: 0, count: zeros.count)
            let outcome = Result {
                try baseObject.withUnsafeBytes { base in
                    try viaObject.withUnsafeMutableBytes { out in
                        try StoredObject.decode(
                            input, name: "fuzz-input", baseObject: base, baseName: "zeros", into: out)
                    }
                }
            }
            switch (viaContent, outcome) {
            case (.success(let content), .success): expect(content == viaObject, "the two delta paths disagree")
            case (.failure, .failure): break
            default: expect(false, "one delta path accepted what the other refused")
            }
        }
        return try viaContent.get()
    }

    private static func checkRoundTrip(_ content: [UInt8], header: StoredObject) {
        content.withUnsafeBytes { bytes in
            do {
                let object = try StoredObject.encode(
                    bytes, digest: header.digest, elementSize: header.elementSize, base: nil, level: 1
                ).object
                let again = try object.withUnsafeBytes { try StoredObject.decode($0, name: "re-encoded") }
                expect(again == content, "re-encoded content does not decode to itself")
            } catch {
                expect(false, "accepted content does not re-encode: \(error)")
            }
        }
    }
}
