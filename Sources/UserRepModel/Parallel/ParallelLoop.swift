// Data parallelism for the CPU-bound stages of a cycle: indices handed out to a few threads.
import Dispatch
import Synchronization

/// Runs a loop body for every index of a range on several threads (the caller's included).
///
/// Indices are handed out one at a time in increasing order as threads become free, so a thread
/// slowed by a Kafka client thread sharing its core simply takes fewer of them. Each worker
/// closure runs once per thread and may set up per-thread scratch space before pulling indices.
public enum ParallelLoop {
    /// Calls `worker` on up to `threads` threads; each call pulls indices of `0..<count` from
    /// `next` until it returns nil. Returns when every index has been handed out and processed.
    public static func run(count: Int, threads: Int, worker: @Sendable (_ next: () -> Int?) -> Void) {
        guard count > 0 else { return }
        let queue = IndexQueue(count: count)
        let width = max(1, min(threads, count))
        if width == 1 {
            worker(queue.next)
            return
        }
        DispatchQueue.concurrentPerform(iterations: width) { _ in worker(queue.next) }
    }

    /// Calls `body` for every index of `0..<count`, on up to `threads` threads.
    public static func forEach(count: Int, threads: Int, _ body: @Sendable (Int) -> Void) {
        run(count: count, threads: threads) { next in
            while let i = next() { body(i) }
        }
    }

    /// Cuts `0..<count` into consecutive ranges of `chunk` indices (the last may be shorter) and
    /// calls `body` with each range's number and the range, on up to `threads` threads.
    public static func forEachChunk(count: Int, chunk: Int, threads: Int, _ body: @Sendable (_ number: Int, _ range: Range<Int>) -> Void) {
        let size = max(1, chunk)
        forEach(count: chunkCount(count: count, chunk: size), threads: threads) { k in
            body(k, (k * size)..<min(count, (k + 1) * size))
        }
    }

    /// Number of ranges `forEachChunk` cuts `0..<count` into.
    public static func chunkCount(count: Int, chunk: Int) -> Int { (count + max(1, chunk) - 1) / max(1, chunk) }

    /// Hands out the indices of `0..<count`, each exactly once.
    private final class IndexQueue: Sendable {
        private let count: Int
        private let position = Atomic<Int>(0)

        init(count: Int) { self.count = count }

        func next() -> Int? {
            let i = position.add(1, ordering: .relaxed).oldValue
            return i < count ? i : nil
        }
    }
}

/// Memory that several threads write at once, each index by exactly one thread (for example the
/// rows of one output matrix, split into blocks). Valid only while its owner keeps it alive.
public struct DisjointWrites<Element>: @unchecked Sendable {
    /// The whole buffer; a thread must write only the indices assigned to it.
    public let buffer: UnsafeMutableBufferPointer<Element>

    /// Wraps `buffer` for disjoint writes from several threads.
    public init(_ buffer: UnsafeMutableBufferPointer<Element>) { self.buffer = buffer }
}

/// Memory that several threads read at once while none writes it. Valid only while its owner keeps
/// it alive.
public struct SharedReads<Element>: @unchecked Sendable {
    /// The whole buffer, for reading only.
    public let buffer: UnsafeBufferPointer<Element>

    /// Wraps `buffer` for reads from several threads.
    public init(_ buffer: UnsafeBufferPointer<Element>) { self.buffer = buffer }
}
