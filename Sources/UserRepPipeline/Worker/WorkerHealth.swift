// Readiness: whether the worker has reached Kafka recently enough to be considered working.
import Foundation
import Logging

/// Tracks the last successful contact with Kafka. The worker is ready while that contact is
/// younger than `unreachableTimeout`; crossing the line either way is logged, and mirrored in an
/// optional ready file (present = ready) for exec-style readiness probes.
final class WorkerHealth {
    private let unreachableTimeout: TimeInterval
    private let readyFile: String?
    private let logger: Logger
    private var lastContact = Date()
    private(set) var isReady = false
    /// Set by `shutDown`: from then on contact (a flush while the group is left) makes no one ready.
    private var stopped = false

    init(unreachableTimeoutMs: Int, readyFile: String?, logger: Logger) {
        self.unreachableTimeout = Double(unreachableTimeoutMs) / 1000
        self.readyFile = readyFile
        self.logger = logger
    }

    /// Kafka answered (records fetched, deliveries confirmed, or a probe succeeded).
    func contact(now: Date = Date()) {
        lastContact = now
        if !isReady && !stopped {
            isReady = true
            logger.info("ready: Kafka reachable")
            if let readyFile, !FileManager.default.createFile(atPath: readyFile, contents: Data("ready\n".utf8)) {
                logger.warning("cannot write ready file \(readyFile)")
            }
        }
    }

    /// Re-evaluates readiness after a period without contact.
    func evaluate(now: Date = Date()) {
        guard isReady, now.timeIntervalSince(lastContact) > unreachableTimeout else { return }
        isReady = false
        logger.error(
            "not ready: no answer from Kafka for \(String(format: "%.1f", now.timeIntervalSince(lastContact))) s (limit \(String(format: "%.1f", unreachableTimeout)) s); retrying"
        )
        if let readyFile { try? FileManager.default.removeItem(atPath: readyFile) }
    }

    /// Removes the ready file on shutdown, for good.
    func shutDown() {
        stopped = true
        isReady = false
        if let readyFile { try? FileManager.default.removeItem(atPath: readyFile) }
    }
}
