import Foundation
package import PBRCore
package import XXHash

/// Objects that are on their way into an `ObjectDirectory` (a pull downloading them) while a reader already reads
/// it (the assembly of the model): a read of one that has not arrived waits for it, and what the reader must know
/// before it reads an object — its content length, its delta base, whether it is a chunk list — comes from what
/// the sender declared (the model index), so that the reader plans the whole model without waiting for all of it.
/// Each object is still checked against its own header and digest when it is decoded.
package final class ObjectArrivals: @unchecked Sendable {
    package struct Declared: Sendable, Equatable {
        package var rawLength: UInt64
        package var base: XXH3Digest?
        package var isChunkList: Bool

        package init(rawLength: UInt64, base: XXH3Digest?, isChunkList: Bool) {
            self.rawLength = rawLength
            self.base = base
            self.isChunkList = isChunkList
        }
    }

    private let declared: [XXH3Digest: Declared]
    private let condition = NSCondition()
    private var arrived = Set<XXH3Digest>()
    private var failure: (any Error)?

    package init(declared: [XXH3Digest: Declared]) {
        self.declared = declared
    }

    /// What was declared of an object that has not arrived yet; nil for one that has, or was never expected.
    package func pending(_ digest: XXH3Digest) -> Declared? {
        guard let facts = declared[digest] else { return nil }
        condition.lock()
        defer { condition.unlock() }
        return arrived.contains(digest) ? nil : facts
    }

    /// The object's file is in place.
    package func arrive(_ digest: XXH3Digest) {
        condition.lock()
        arrived.insert(digest)
        condition.broadcast()
        condition.unlock()
    }

    /// The objects still pending will not come: every reader waiting, and every later one, gets `error`.
    package func fail(_ error: any Error) {
        condition.lock()
        if failure == nil { failure = error }
        condition.broadcast()
        condition.unlock()
    }

    /// Returns once `digest` arrived (at once for an object never expected); throws what `fail` was given.
    package func wait(for digest: XXH3Digest) throws {
        guard declared[digest] != nil else { return }
        condition.lock()
        defer { condition.unlock() }
        while !arrived.contains(digest) {
            if let failure { throw failure }
            condition.wait()
        }
    }
}
