// The end of every poll cycle: the commit order, its retry loops, and the input positions it moves.
import Foundation
import Logging
import UserRepKafka
import UserRepState

/// Commits a cycle's work. **Commit order** (the one place it is written down):
/// 1. produce every changed user's state to the changelog (partition = input partition), every
///    output vector (both through the run's `CycleSink`) and every dead-letter record of the cycle;
/// 2. flush the producer and require every record delivered (else throw: nothing below happens,
///    the process exits non-zero, and a restart redoes the cycle from the last commit; states
///    whose changelog records were delivered come back through the restore, and the redo
///    republishes their vectors, since their outputs may not have been delivered);
/// 3. write all changed user states, the next input offsets, the offsets of dead-lettered track
///    records and the changelog checkpoint in one atomic RocksDB write (which goes on while the
///    next cycle starts: whatever reads what it writes waits for it, see `StateStore`);
/// 4. commit the same offsets to the consumer group (asynchronously; then confirmed by a
///    synchronous commit within a second, see `commitGroupOffsets`).
///
/// With a transactional id, 1 and 2 are one Kafka transaction that also carries the input offsets
/// (so 4 happens with 2, before 3); a transaction that cannot commit is aborted, the partitions
/// are rewound to the last committed cycle, and the cycle is redone.
final class CycleCheckpoint {
    private let producer: KafkaProducer
    private let consumer: KafkaConsumer
    private let store: StateStore
    private let deadLetters: DeadLetterWriter
    private let health: WorkerHealth
    private let logger: Logger
    private let config: WorkerConfiguration
    private let shouldStop: @Sendable () -> Bool
    /// Whether each cycle is one Kafka transaction (outputs, changelog and input offsets).
    let transactional: Bool
    /// Next offsets of finished work, and what the group has confirmed of them.
    var offsets = GroupOffsetLedger()
    private var lastGroupCommit = Date.distantPast
    /// When the last cycle's records were delivered (or its transaction committed): from then on
    /// subscribers can read its vectors, before its state is written (step 3). Ms since the epoch.
    private(set) var lastDeliveryMs: Int64 = 0

    init(
        producer: KafkaProducer, consumer: KafkaConsumer, store: StateStore, deadLetters: DeadLetterWriter, health: WorkerHealth,
        config: WorkerConfiguration, transactional: Bool, logger: Logger, shouldStop: @escaping @Sendable () -> Bool
    ) {
        self.producer = producer
        self.consumer = consumer
        self.store = store
        self.deadLetters = deadLetters
        self.health = health
        self.config = config
        self.transactional = transactional
        self.logger = logger
        self.shouldStop = shouldStop
    }

    /// Runs steps 1–4 for a cycle whose input ends at `inputOffsets` (next offset per partition).
    /// `encoded` (the states, serialized) goes to the store in step 3, which frees it once staged.
    /// Returns false when a transaction had to be aborted (nothing of the cycle is visible and it
    /// will be read again).
    func commit(
        _ changes: CycleChanges, encoded: consuming EncodedStates, rejected: [(DeadLetterRecord, InputRejection)],
        inputOffsets: [KafkaTopicPartition: Int64], sink: CycleSink,
        metrics: inout WorkerMetrics, clock: inout StageClock
    ) throws -> Bool {
        // 1. Produce state changes, outputs and dead letters.
        if transactional { try producer.beginTransaction() }
        try sink.emit(changes, encoded: encoded, clock: &clock, metrics: &metrics)
        var trackOffsets: [Int32: Int64] = [:]
        for (record, rejection) in rejected {
            metrics.deadLetter(rejection.reason)
            if try deadLetters.send(record, rejection) { metrics.deadLettersTruncated += 1 }
            if record.topic == config.topics.tracks {
                trackOffsets[record.partition] = max(trackOffsets[record.partition] ?? 0, record.offset + 1)
            }
        }
        if !rejected.isEmpty {
            logger.debug("dead-lettered records", metadata: ["count": "\(rejected.count)", "first": "\(rejected[0].1)"])
        }
        // 2. Every record delivered, or the cycle fails here. In transactional mode the input
        // offsets commit with the records, atomically, or the cycle is aborted and redone.
        if transactional {
            guard try commitTransaction(inputOffsets, metrics: &metrics) else { return false }
        } else {
            try flushOutputs()
        }
        clock.lap("flush", into: &metrics)
        lastDeliveryMs = StreamWorker.nowMs()
        // 3. State and offsets together. Dead-lettered track records are remembered (as offsets
        // of the track topic), so a restart that reads the table again does not dead-letter them again.
        let stored =
            inputOffsets.map { SourceOffset(topic: $0.key.topic, partition: $0.key.partition, next: $0.value) }
            + trackOffsets.map { SourceOffset(topic: config.topics.tracks, partition: $0.key, next: $0.value) }
        let checkpoints = Dictionary(uniqueKeysWithValues: producer.takeDeliveredOffsets().map { ($0.key.partition, $0.value) })
        try store.commit(
            users: changes.users, states: changes.states, encoded: consume encoded, offsets: stored, checkpoints: checkpoints,
            timers: changes.timers)
        offsets.finished(inputOffsets)
        // 4. Group offsets (already committed by the transaction in transactional mode). A
        // failed asynchronous commit is caught up by `commitGroupOffsets` within a second.
        if transactional {
            offsets.confirmed(inputOffsets)
        } else {
            do { try consumer.commit(inputOffsets, async: true) } catch { logger.warning("group offset commit failed: \(error)") }
        }
        clock.lap("commit", into: &metrics)
        return true
    }

    /// Commits a batch-job (or timer) step, which changes no state: `produce` queues its outputs;
    /// `confirm` queues the records that vouch for them (progress records) and `afterCommit` does
    /// the local work that must follow them (committing fired timers), so neither ever claims
    /// outputs that were lost. With transactions, `confirm` is in the step's transaction and
    /// `afterCommit` runs once it committed (false: aborted, nothing visible or done). Without,
    /// both run once the outputs are delivered: `deferred` leaves them to the next flush (a live
    /// cycle's, so that a step between cycles costs no flush of its own); a crash before that
    /// redoes the step.
    func commitJobStep(
        produce: (inout WorkerMetrics) throws -> Void, confirm: @escaping () throws -> Void = {},
        afterCommit: @escaping () throws -> Void = {}, deferred: Bool, metrics: inout WorkerMetrics
    ) throws -> Bool {
        if transactional {
            try producer.beginTransaction()
            try produce(&metrics)
            try confirm()
            guard try commitTransaction([:], metrics: &metrics) else { return false }
            try afterCommit()
            return true
        }
        try produce(&metrics)
        afterDelivery.append {
            try confirm()
            try afterCommit()
        }
        if !deferred { try flushOutputs() }
        return true
    }

    /// At a clean stop, once nothing waits for delivery: the changelog records delivered since
    /// the last cycle (the fired-timer records of timer steps after it, whose timers are
    /// committed by now) move the store's changelog checkpoints, so that the next start has
    /// nothing to restore. (A cycle's commit takes the same offsets; without one after the last
    /// timer steps, every clean restart restored their records, partition by partition.) Only
    /// partitions still `owned`: a revoked one's next owner may have written below this worker's
    /// late deliveries, and its next restore must read those.
    func checkpointDeliveredChangelog(owned: Set<Int32>) throws {
        guard !deliveryPending else { return }
        let delivered = producer.takeDeliveredOffsets().filter { owned.contains($0.key.partition) }
        guard !delivered.isEmpty else { return }
        try store.advanceChangelogCheckpoints(Dictionary(delivered.map { ($0.key.partition, $0.value) }, uniquingKeysWith: max))
    }

    /// Delivers, within `timeoutMs`, the records that steps queued once their outputs were
    /// delivered (batch-job progress, fired timers), for a stop's checkpoint or a revoked
    /// partition's next owner. Best effort: without them a next start or owner redoes the steps.
    func deliverConfirmations(timeoutMs: Int32) { try? producer.flush(timeoutMs: timeoutMs) }

    /// Work waiting for the next flush to confirm the outputs it follows.
    private var afterDelivery: [() throws -> Void] = []
    /// Whether a step's outputs still wait for a flush.
    var deliveryPending: Bool { !afterDelivery.isEmpty }

    /// Forgets a cycle's unwritten work: cached states of its partitions are reloaded from the
    /// store on next use.
    func discard(partitions: Set<Int32>, metrics: inout WorkerMetrics) {
        store.evictCache(partitions: partitions)
        metrics.cyclesDiscarded += 1
    }

    /// Sends the cycle's input offsets into the transaction and commits it, in one-second steps
    /// (librdkafka resumes a commit that timed out) for up to `deliveryTimeoutMs`, retrying what
    /// may be retried. Returns false if the transaction had to be aborted (a fenced or failed
    /// cycle): nothing of it is visible, and the partitions are rewound to the last committed
    /// cycle. A stop requested meanwhile waits at most half of `shutdownTimeoutMs` more, then
    /// throws `StopWithCyclePending`; the next start with the same id aborts the open transaction.
    private func commitTransaction(_ inputOffsets: [KafkaTopicPartition: Int64], metrics: inout WorkerMetrics) throws -> Bool {
        var wait = waitForKafka()
        var offsetsSent = false
        do {
            while true {
                do {
                    if !offsetsSent && !inputOffsets.isEmpty {
                        try producer.sendOffsets(inputOffsets, of: consumer, timeoutMs: 1_000)
                        offsetsSent = true
                    }
                    try producer.commitTransaction(timeoutMs: 1_000)
                    health.contact()
                    return true
                } catch let error as KafkaError where error.isRetriable && !error.requiresAbort {
                    try wait.continueAfter(error)
                    if !error.isTimeout { logger.warning("transaction commit failed, retrying: \(error)") }
                }
            }
        } catch let error as KafkaError where error.requiresAbort {
            logger.warning("aborting the cycle's transaction; its records are redone: \(error)")
            try abortTransaction()
            let partitions = Set(inputOffsets.keys.map(\.partition))
            discard(partitions: partitions, metrics: &metrics)
            try consumer.seek(offsets.own.filter { partitions.contains($0.key.partition) && consumer.assignment.contains($0.key) })
            return false
        }
    }

    /// Aborts the open transaction in one-second steps (librdkafka resumes an abort that timed
    /// out), within the same bounds as its commit: a stop ends the wait (`StopWithCyclePending`;
    /// the next start with the same id aborts it).
    private func abortTransaction() throws {
        var wait = waitForKafka()
        while true {
            do {
                try producer.abortTransaction(timeoutMs: 1_000)
                return
            } catch let error as KafkaError where error.isRetriable {
                try wait.continueAfter(error)
            }
        }
    }

    /// Waits for every queued record's delivery in one-second steps (then runs the work waiting for
    /// it, `commitJobStep`), reporting readiness while
    /// Kafka is away; gives up (throws) only after `deliveryTimeoutMs`, or on a delivery failure.
    /// When a stop is requested and Kafka has not confirmed the records within half of
    /// `shutdownTimeoutMs`, it throws `StopWithCyclePending` rather than wait out the delivery timeout.
    func flushOutputs() throws {
        var wait = waitForKafka()
        while true {
            do {
                try producer.flush(timeoutMs: 1_000)
                health.contact()
                let waiting = afterDelivery
                afterDelivery.removeAll()
                for work in waiting { try work() }
                return
            } catch let error as KafkaError where error.isTimeout {
                try wait.continueAfter(error)
            }
        }
    }

    /// A wait for Kafka to confirm the cycle, in one-second steps: see `KafkaWait`.
    private func waitForKafka() -> KafkaWait {
        KafkaWait(
            health: health, shouldStop: shouldStop, stopGraceMs: Double(config.shutdownTimeoutMs) / 2,
            limitMs: Double(config.deliveryTimeoutMs))
    }

    /// `commitGroupOffsets` at most once a second (called between polls).
    func commitGroupOffsetsIfDue(metrics: inout WorkerMetrics) {
        guard Date().timeIntervalSince(lastGroupCommit) >= 1 else { return }
        _ = commitGroupOffsets(timeoutMs: 2_000, metrics: &metrics)
    }

    /// Commits, and waits for, every partition whose group offset is behind this worker's own
    /// (a commit that failed, a partition taken over from local state, one that went idle), so
    /// the group's offsets converge on the work done. Returns whether the group is now level.
    func commitGroupOffsets(timeoutMs: Int32, metrics: inout WorkerMetrics) -> Bool {
        lastGroupCommit = Date()
        let due = offsets.behind.filter { consumer.assignment.contains($0.key) }
        guard !due.isEmpty else { return true }
        guard !consumer.assignmentLost else { return false }
        do {
            try consumer.commit(due, timeoutMs: timeoutMs)
            offsets.confirmed(due)
            metrics.groupCommits += 1
            return true
        } catch {
            // The group may hold the offsets already (an asynchronous commit of the cycle that
            // went through, while this one met a rebalance): ask it before calling it behind.
            if let known = try? consumer.committed(Array(due.keys), timeoutMs: timeoutMs) {
                offsets.confirmed(known)
                if offsets.behind.keys.allSatisfy({ !due.keys.contains($0) }) { return true }
            }
            metrics.groupCommitFailures += 1
            logger.warning(
                "group offset commit failed; retrying in a second", metadata: ["partitions": "\(due.count)", "error": "\(error)"])
            return false
        }
    }

    /// Commits what is still due for `partitions` as they are revoked, and forgets them.
    func release(_ partitions: [KafkaTopicPartition]) {
        let due = offsets.remove(partitions)
        guard !consumer.assignmentLost, !due.isEmpty else { return }
        do { try consumer.commit(due, timeoutMs: config.shutdownTimeoutMs / 2) } catch {
            logger.warning("offset commit on revoke failed: \(error)")
        }
    }
}

/// Thrown out of a cycle that a stop abandons while Kafka does not answer.
struct StopWithCyclePending: Error {}

/// How long a cycle keeps waiting for Kafka after a step that did not finish: up to `limitMs`
/// in all, and no more than `stopGraceMs` once a stop is requested. Readiness follows meanwhile.
struct KafkaWait {
    let health: WorkerHealth
    let shouldStop: @Sendable () -> Bool
    let stopGraceMs: Double
    let limitMs: Double
    private let started = Date()
    private var stopRequested: Date?

    init(health: WorkerHealth, shouldStop: @escaping @Sendable () -> Bool, stopGraceMs: Double, limitMs: Double) {
        self.health = health
        self.shouldStop = shouldStop
        self.stopGraceMs = stopGraceMs
        self.limitMs = limitMs
    }

    /// Returns to retry after `error`; throws `StopWithCyclePending` past the stop grace, or
    /// `error` past the limit.
    mutating func continueAfter(_ error: Error) throws {
        health.evaluate()
        if shouldStop() {
            let since = stopRequested ?? Date()
            stopRequested = since
            if Date().timeIntervalSince(since) * 1000 >= stopGraceMs { throw StopWithCyclePending() }
        }
        guard Date().timeIntervalSince(started) * 1000 < limitMs else { throw error }
    }
}
