import BlockStore
import Foundation
import Testing

/// `Recipe.File.content` is an enum in memory; on disk the `pbrepo.recipe/v1` JSON keeps its members by kind.
@Suite struct RecipeTests {
    /// A recipe as the previous release wrote it (JSONEncoder, sorted keys), written out by hand.
    static let text = """
        {"files":[\
        {"header":"0a","kind":"safetensors","path":"m.safetensors","sha256":"s1","size":10,"tensors":["0b","0c"],"xxh3":"x1"},\
        {"extents":[{"length":4,"object":"0e","offset":8}],"kind":"hdf5","path":"m.h5","sha256":"s2","size":20,"skeleton":"0d"},\
        {"kind":"verbatim","object":"0f","path":"config.json","sha256":"s3","size":3}\
        ],"layout":"directory","model":"m","schema":"pbrepo.recipe/v1"}
        """

    @Test func readsAndWritesTheSameJSON() throws {
        let recipe = try JSONDecoder().decode(Recipe.self, from: Data(Self.text.utf8))
        #expect(recipe.files.map(\.kind) == [.safetensors, .hdf5, .verbatim])
        #expect(recipe.files[0].content == .safetensors(header: "0a", tensors: ["0b", "0c"]))
        #expect(recipe.files[1].content == .hdf5(skeleton: "0d", extents: [.init(offset: 8, length: 4, object: "0e")]))
        #expect(recipe.files[2].content == .verbatim(object: "0f") && recipe.files[2].xxh3 == nil)
        #expect(recipe.objects == ["0a", "0b", "0c", "0d", "0e", "0f"])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        #expect(String(decoding: try encoder.encode(recipe), as: UTF8.self) == Self.text)
    }

    @Test func aFileWithoutItsKindsMembersIsRefused() {
        let broken = Self.text.replacingOccurrences(of: #""header":"0a","#, with: "")
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(Recipe.self, from: Data(broken.utf8)) }
    }
}
