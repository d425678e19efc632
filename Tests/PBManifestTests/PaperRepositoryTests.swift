import Foundation
import ManifestSynthesis
import PBManifest
import TestSupport
import Testing

@Suite struct PaperRepositoryTests {
    func decode(_ name: String) throws -> [String: Any] {
        let text = try PaperRepositories.manifest(named: name).text
        return try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    @Test func cnnRepositoryHasThePapersShape() throws {
        let manifest = try decode("paper-cnn60")
        let blocks = try #require(manifest["blocks"] as? [[String: Any]])
        let models = try #require(manifest["models"] as? [[String: Any]])
        #expect(models.count == 60)
        let sizes = blocks.compactMap { $0["bytes"] as? Int }
        // Inception-v3's Mixed_7c, by hand: 1x1 656 000 + 3x3_1 787 200 + 3x3_2a/2b 2 × 443 136 + dbl_1 918 400
        // + dbl_2 1 549 056 + dbl_3a/3b 2 × 443 136 + pool 393 600 = 6 076 800 fp32 parameters = 24.31 MB, the
        // paper's largest PB.
        #expect(sizes.max() == 24_307_200)
        #expect(sizes.min() ?? 0 >= 3_500 && blocks.count >= 400 && blocks.count <= 460)
        // A child shares exactly its frozen lower blocks with its parent.
        let byID = Dictionary(
            uniqueKeysWithValues: models.map { ($0["id"] as? String ?? "", $0["blocks"] as? [String] ?? []) })
        let parent = try #require(byID["inception_v3-stage1-2"])
        let child = try #require(byID["inception_v3-stage2-2-1"])
        #expect(zip(parent, child).prefix { $0 == $1 }.count == 13)
        #expect(Set(parent).intersection(child).count == 13)
        // And nothing with another base's blocks.
        #expect(Set(child).isDisjoint(with: try #require(byID["resnet18-stage1-0"])))
    }

    @Test func llamaRepositoryFreezesEmbeddingAndLowerLayers() throws {
        let manifest = try decode("llama2-20")
        let models = try #require(manifest["models"] as? [[String: Any]])
        let seven = models.filter { ($0["family"] as? String) == "llama2-7b" }.compactMap { $0["blocks"] as? [String] }
        #expect(seven.count == 10 && seven.allSatisfy { $0.count == 35 })  // embedding, 32 layers, norm, head
        let shared = seven.dropFirst().reduce(Set(seven[0])) { $0.intersection($1) }
        #expect(shared.count == 29)  // embedding + 28 decoder layers
        let blocks = try #require(manifest["blocks"] as? [[String: Any]])
        let sevenBytes = models.first { ($0["family"] as? String) == "llama2-7b" }?["bytes"] as? Int ?? 0
        #expect(abs(Double(sevenBytes) - 13.48e9) < 0.01e9)  // 6.74 B parameters in fp16
        #expect(blocks.count == 195)
        let unknown = #expect(throws: SynthesisError.self) { try PaperRepositories.manifest(named: "nope") }
        #expect(unknown?.code == .unknownRepository)
    }

    @Test func committedManifestsAreWhatTheGeneratorWrites() throws {
        for name in PaperRepositories.names {
            let committed = try String(contentsOfFile: Samples.root + "/manifests/\(name).json", encoding: .utf8)
            #expect(committed == (try PaperRepositories.manifest(named: name).text), "\(name)")
        }
    }
}
