import Foundation
import Synchronization

/// Work started on another thread now and waited for later.
public final class BackgroundWork<Value: Sendable>: Sendable {
    private let result = Mutex<Result<Value, any Error>?>(nil)
    private let done = DispatchSemaphore(value: 0)

    public init(_ work: @escaping @Sendable () throws -> Value) {
        Thread { self.run(work) }.start()
    }

    private func run(_ work: @Sendable () throws -> Value) {
        let outcome = Result { try work() }
        result.withLock { $0 = outcome }
        done.signal()
    }

    public func wait() throws -> Value {
        done.wait()
        done.signal()
        return try result.withLock { $0! }.get()
    }
}
