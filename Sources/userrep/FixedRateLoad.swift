// `userrep bench`'s fixed-rate load: listens offered at a constant rate from a thread of its own.
import Foundation
import Synchronization
import UserRepKafka
import UserRepTesting

/// A thread that offers listens at a fixed rate once `start` is called, and keeps itself and its
/// producer alive until the load is released (or deinitialized), so that their CPU shows in their
/// thread groups (`ThreadCPU`) rather than among the threads that ended.
final class FixedRateLoad: Sendable {
    /// What the thread and its owner share.
    private final class Flags: Sendable {
        let finished = Mutex(false), released = Mutex(false)
        let failure = Mutex<String?>(nil)
        /// The load producer's librdkafka threads: those that its creation and run added.
        let producerThreads = Mutex<Set<Int>>([])
        /// Signalled by `start`, and by the release (so that a load never started ends too).
        let go = DispatchSemaphore(value: 0)
        /// Signalled by the release.
        let end = DispatchSemaphore(value: 0)

        func release() {
            released.withLock { $0 = true }
            go.signal()
            end.signal()
        }
    }

    private let flags = Flags()

    /// Spawns the thread; it offers `count` listens of `generator` (from index `first`, of `total`)
    /// at `rate` a second to `topic`, in `lingerMs` batches, once started. With `liveFromMs`, their
    /// event times run on from it with the wall clock.
    init(
        kafka: KafkaConfiguration, topic: String, generator: SyntheticGenerator, first: Int, count: Int, total: Int, rate: Double,
        lingerMs: Int, liveFromMs: Int64?
    ) {
        let flags = flags
        let thread = Thread {
            ThreadCPU.nameCurrentThread(ThreadCPU.Group.loadThreadName)
            let isReleased = { flags.released.withLock { $0 } }
            flags.go.wait()
            var producer: KafkaProducer?
            if !isReleased() {
                // Every other client of the process exists by now (the worker's were made before
                // the load starts), so the client threads that appear from here on are this producer's.
                let before = ThreadCPU.now().kafkaClientThreads
                do {
                    var gen = generator
                    let p = try KafkaProducer(configuration: kafka.overriding(["linger.ms": "\(lingerMs)"]))
                    producer = p
                    try ListenLoad.produce(
                        &gen, producer: p, topic: topic, first: first, count: count, total: total, ratePerSecond: rate,
                        liveFromMs: liveFromMs, shouldStop: isReleased)
                } catch { flags.failure.withLock { $0 = "\(error)" } }
                flags.producerThreads.withLock { $0 = ThreadCPU.now().kafkaClientThreads.subtracting(before) }
            }
            flags.finished.withLock { $0 = true }
            flags.end.wait()
            withExtendedLifetime(producer) {}
        }
        thread.start()
    }

    deinit { flags.release() }

    /// Lets the thread begin offering the load.
    func start() { flags.go.signal() }

    /// Whether every listen has been produced (or the producer failed).
    var finished: Bool { flags.finished.withLock { $0 } }

    /// The load producer's librdkafka threads (known once `finished`), whose CPU is the load's.
    var producerThreads: Set<Int> { flags.producerThreads.withLock { $0 } }

    /// Lets the thread and its producer end; throws if producing failed.
    func release() throws {
        flags.release()
        if let failure = flags.failure.withLock({ $0 }) { throw KafkaError("the load's producer failed: \(failure)") }
    }
}
