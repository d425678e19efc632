import BlockStore
import Foundation
import Glibc
import PBRCore
import Synchronization
import TestSupport
import Testing
import XXHash

/// Assembly from a directory whose objects arrive while it reads (a pull with `-o`).
@Suite struct ObjectArrivalsTests {
    struct Refused: Error, Equatable { var why: String }

    /// A store holding a fine-tune and its base; the fine-tune's objects (deltas and the bases they need) listed
    /// with what a model index declares of them.
    func fineTuneObjects() throws -> (store: Store, declared: [XXH3Digest: ObjectArrivals.Declared], path: String) {
        let store = try Store(root: Samples.temporaryDirectory() + "/store")
        _ = try store.ingest(Samples.path("mlp/mlp-base.safetensors"))
        let path = Samples.path("mlp/mlp-ft-freeze3.safetensors")
        let model = try store.ingest(path).model
        let required = Assembler.requiredObjects(try store.recipe(of: model), in: store.objects)
        #expect(required.missing.isEmpty)
        var declared: [XXH3Digest: ObjectArrivals.Declared] = [:]
        for digest in required.present {
            let header = try store.objects.withObject(digest) { try StoredObject.header(of: $0, name: "\(digest)") }
            declared[digest] = .init(
                rawLength: header.rawLength, base: header.base, isChunkList: header.codec == .chunked)
        }
        #expect(declared.values.contains { $0.base != nil }, "the fine-tune has no deltas to wait for")
        return (store, declared, path)
    }

    @Test("objects arriving in reverse order while the assembly runs give the original file")
    func assemblyWaitsForEachObject() throws {
        let (store, declared, path) = try fineTuneObjects()
        let recipe = try store.recipe(of: "mlp-ft-freeze3")
        let staging = Samples.temporaryDirectory() + "/staging"
        let arrivals = ObjectArrivals(declared: declared)
        let directory = ObjectDirectory(root: staging, arrivals: arrivals)
        let output = Samples.temporaryDirectory() + "/ft.safetensors"
        let finished = DispatchSemaphore(value: 0)
        let outcome = Mutex<Result<String, any Error>?>(nil)
        Thread {
            outcome.withLock { $0 = Result { try store.assemble(recipe, from: directory, to: output).output } }
            finished.signal()
        }.start()
        // Nothing can be written before the objects come: the assembly is still waiting.
        #expect(finished.wait(timeout: .now() + 0.2) == .timedOut)
        #expect(!FileManager.default.fileExists(atPath: output))
        for digest in declared.keys.sorted(by: { $0.description > $1.description }) {
            let target = directory.path(of: digest)
            try FileSystem.makeDirectories(AtomicFile.directory(of: target))
            #expect(link(store.objects.path(of: digest), target) == 0)
            arrivals.arrive(digest)
        }
        finished.wait()
        let written = try #require(try outcome.withLock { try $0?.get() })
        let bytes = { (file: String) in try Data(contentsOf: URL(fileURLWithPath: file)) }
        #expect(try bytes(written) == bytes(path))
    }

    @Test("a download that fails wakes the waiting assembly with its error, and nothing is written")
    func failureReachesTheWaitingReader() throws {
        let (store, declared, _) = try fineTuneObjects()
        let recipe = try store.recipe(of: "mlp-ft-freeze3")
        let arrivals = ObjectArrivals(declared: declared)
        let directory = ObjectDirectory(root: Samples.temporaryDirectory() + "/staging", arrivals: arrivals)
        let output = Samples.temporaryDirectory() + "/ft.safetensors"
        let finished = DispatchSemaphore(value: 0)
        let outcome = Mutex<(any Error)?>(nil)
        Thread {
            do {
                _ = try store.assemble(recipe, from: directory, to: output)
            } catch {
                outcome.withLock { $0 = error }
            }
            finished.signal()
        }.start()
        #expect(finished.wait(timeout: .now() + 0.2) == .timedOut)
        arrivals.fail(Refused(why: "blob sha256:ab… arrived as sha256:cd…"))
        finished.wait()
        #expect(outcome.withLock { $0 as? Refused } == Refused(why: "blob sha256:ab… arrived as sha256:cd…"))
        #expect(!FileManager.default.fileExists(atPath: output))
        // Later readers get the error at once; objects never expected do not wait.
        let someDigest = try #require(declared.keys.first)
        #expect(throws: Refused.self) { try arrivals.wait(for: someDigest) }
        #expect(directory.contains(someDigest))
        try arrivals.wait(for: XXH3Digest(hex: "0123456789abcdef0123456789abcdef")!)
    }
}
