// What the probe endpoints report about a worker, shared between its thread and a server's.
import Foundation
import Synchronization

/// A worker's liveness and readiness as the worker thread last reported them (thread safe).
public final class WorkerStatus: Sendable {
    private struct State {
        var ready = false
        var lastLoop = Date()
        var running = false
    }
    private let state = Mutex(State())
    /// A loop slower than this counts as stuck (not live).
    public let stuckAfter: TimeInterval

    /// A status of a worker that has not started yet (live, not ready).
    public init(stuckAfter: TimeInterval = 120) { self.stuckAfter = stuckAfter }

    /// Whether the worker can reach Kafka and is reading (Kubernetes' readiness).
    public var isReady: Bool { state.withLock { $0.ready && $0.running } }

    /// Whether the worker's loop has come round recently, or it has not started it yet
    /// (Kubernetes' liveness: a stuck worker is restarted).
    public var isLive: Bool {
        state.withLock { !$0.running || Date().timeIntervalSince($0.lastLoop) < stuckAfter }
    }

    /// The loop came round; `ready` is its readiness now.
    func loop(ready: Bool) {
        state.withLock {
            $0.running = true
            $0.ready = ready
            $0.lastLoop = Date()
        }
    }

    /// The loop has ended (not ready; live while the process shuts down).
    func stopped() {
        state.withLock {
            $0.running = false
            $0.ready = false
        }
    }
}
