// One RocksDB write running on another thread, and who may wait for it.
import Dispatch

/// A write of `batch` (and whatever else `work` does with it) started on a queue, for a caller
/// that goes on with other work and waits for it before anything that must see it. `keys`
/// holds what the write changes, for a caller that reads other keys meanwhile. The batch is the
/// write's until `wait` returns; then it is the caller's again.
final class BackgroundWrite<Key: Hashable & Sendable>: @unchecked Sendable {
    /// The writes, given back by `wait`.
    let batch: RocksDBAtomicWrite
    /// The keys the write changes.
    let keys: Set<Key>
    private let done = DispatchSemaphore(value: 0)
    // Set on the queue before `done` is signalled, read after waiting on it.
    private var work: (@Sendable (RocksDBAtomicWrite) throws -> Void)?
    private var failure: (any Error)?
    private var waited = false

    /// Starts `work(batch)` on `queue`.
    init(_ batch: RocksDBAtomicWrite, keys: Set<Key>, on queue: DispatchQueue, _ work: @escaping @Sendable (RocksDBAtomicWrite) throws -> Void) {
        self.batch = batch
        self.keys = keys
        self.work = work
        queue.async { [self] in
            run()
            done.signal()
        }
    }

    /// Runs the work and lets go of it (and of what it holds, such as the database) before
    /// `wait` returns: a caller that closes the database next finds no other reference to it.
    private func run() {
        guard let work else { return }
        self.work = nil
        do { try work(batch) } catch { failure = error }
    }

    /// Blocks until the write ended; rethrows its error. Call from one thread.
    func wait() throws {
        if !waited {
            done.wait()
            waited = true
        }
        if let failure { throw failure }
    }
}

/// A value handed to another thread once: `take` gives it up, so the taker's copy is the only one
/// and is freed when the taker is done with it (not when the closure holding this box goes).
final class HandedOver<Value: Sendable>: @unchecked Sendable {
    private var value: Value?

    init(_ value: consuming Value) { self.value = value }

    /// The value; call once, from one thread.
    func take() -> Value {
        guard let value else { preconditionFailure("a handed-over value is taken once") }
        self.value = nil
        return value
    }
}
