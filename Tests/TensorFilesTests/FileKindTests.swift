import Foundation
import TensorFiles
import TestSupport
import Testing

/// Files that are not checkpoints are refused saying what they look like (issue 12 §2), never by quoting their
/// first eight bytes as a header length; the starts are those of real files of each format.
@Suite struct FileKindTests {
    @Test(arguments: [
        ("model.gguf", [UInt8]("GGUF".utf8) + [3, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0], "a GGUF file"),
        // torch.save since PyTorch 1.6: a zip whose first entry is archive/data.pkl.
        (
            "pytorch_model.bin", [0x50, 0x4B, 0x03, 0x04, 0x00, 0x00, 0x08, 0x08] + [UInt8]("archive/data.pkl".utf8),
            "zip archive"
        ),
        // The legacy format: a pickle of protocol 2 (torch.save's magic number first).
        ("old.pt", [0x80, 0x02, 0x8A, 0x0A, 0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8], "a pickle"),
        ("model.keras", [0x50, 0x4B, 0x03, 0x04, 0x14, 0x00, 0x00, 0x00], "Keras 3 .keras archive"),
        ("model.onnx", [0x08, 0x08, 0x12, 0x07] + [UInt8]("pytorch".utf8), "ONNX"),
        ("weights.npy", [0x93] + [UInt8]("NUMPY".utf8) + [1, 0, 0x76, 0], "NumPy"),
        ("tokenizer.json", [UInt8]("{\"version\": \"1.0\", \"truncation\": null}".utf8), "a JSON file"),
        ("README.md", [UInt8]("---\nlicense: mit\n---\n# A model card\n".utf8), "a text file"),
    ])
    func otherFormatsAreNamed(name: String, start: [UInt8], says: String) throws {
        let path = Samples.temporaryDirectory() + "/" + name
        try Data(start + [UInt8](repeating: 0x41, count: 64)).write(to: URL(fileURLWithPath: path))
        let result = Result { () throws(TensorFileError) in try Checkpoint.open(path) }
        guard case .failure(let error) = result else {
            Issue.record("\(name) opened as a checkpoint")
            return
        }
        do {
            #expect(error.code == .notSafetensors, "\(error)")
            #expect(
                error.message.contains(says) && error.message.contains("plain file inside a model directory"),
                "\(error)")
            #expect(!error.message.contains("header length"), "\(error)")
        }
    }

    /// A real safetensors file whose header length's low bytes happen to read as a pickle's is still a checkpoint.
    @Test func safetensorsFilesAreNeverMistakenForOtherFormats() throws {
        for sample in Samples.truthFiles where sample.format == "safetensors" {
            _ = try Checkpoint.open(Samples.path(sample.path))
        }
    }
}
