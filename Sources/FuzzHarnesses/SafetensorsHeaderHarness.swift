import PBRCore
import TensorFiles

/// The N header bytes of a safetensors file. Accepted means the header is valid for a data section of the length it
/// implies; then its tensors must tile that section exactly, each as large as its dtype and shape say, and the header
/// the reference writer's rules give for the same tensors must parse to the same tensors and metadata.
enum SafetensorsHeaderHarness {
    static func run(_ input: UnsafeRawBufferPointer) { _ = outcome(input) }

    static func outcome(_ input: UnsafeRawBufferPointer) -> FuzzOutcome {
        let header: SafetensorsHeader
        do {
            header = try SafetensorsHeader.parse(json: Array(input), availableData: nil, path: "fuzz-input")
        } catch {
            return .refused("\(error)")
        }
        var end: UInt64 = 0
        for tensor in header.tensorsInDataOrder {
            expect(tensor.begin == end, "tensor \(tensor.name) begins at \(tensor.begin), not \(end)")
            expect(
                tensor.dtype.byteCount(shape: tensor.shape) == tensor.byteCount,
                "tensor \(tensor.name) holds \(tensor.byteCount) bytes, not what \(tensor.dtype) \(tensor.shape) needs")
            end = tensor.end
        }
        expect(end == header.dataLength, "the tensors cover \(end) bytes, the header says \(header.dataLength)")
        expect(
            Set(header.tensors.map { Array($0.name.unicodeScalars) }).count == header.tensors.count,
            "two tensors have the same name")

        let entries = header.tensors.map { (name: $0.name, dtype: $0.dtype, shape: $0.shape) }
        do {
            let rewritten = try SafetensorsHeader.encode(tensors: entries, metadata: header.metadata)
            let again = try SafetensorsHeader.parse(
                json: rewritten.json, availableData: header.dataLength, path: "rewritten")
            func described(_ header: SafetensorsHeader) -> [String] {
                header.tensors.map { "\(Array($0.name.unicodeScalars)) \($0.dtype) \($0.shape)" }.sorted()
            }
            expect(described(again) == described(header), "the rewritten header names other tensors")
            expect(
                again.metadata.map { $0.map { "\($0.key)=\($0.value)" } }
                    == header.metadata.map { $0.map { "\($0.key)=\($0.value)" } },
                "the rewritten header has other metadata")
        } catch {
            expect(false, "an accepted header cannot be rewritten: \(error)")
        }
        return .accepted
    }
}
