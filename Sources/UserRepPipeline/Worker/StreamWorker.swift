// The worker loop: poll → parse → update state → encode → produce → commit, one batch per cycle.
import Foundation
import Logging
import UserRepKafka
import UserRepModel
import UserRepState

/// Consumes input events, keeps per-user state and publishes representations.
///
/// **Commit order** (the one place it is written down). Each poll cycle ends with:
/// 1. produce every changed user's state to the changelog (partition = input partition), every
///    output vector and every dead-letter record of the cycle;
/// 2. flush the producer and require every record delivered (else throw: nothing below happens,
///    the process exits non-zero, and a restart redoes the cycle from the last commit);
/// 3. write all changed user states, the next input offsets and the changelog checkpoint in one
///    atomic RocksDB batch;
/// 4. commit the same offsets to the consumer group (asynchronously; synchronously when
///    partitions are revoked).
///
/// With a transactional id, 1 and 2 are one Kafka transaction that also carries the input offsets
/// (so 4 happens with 2, before 3); a transaction that cannot commit is aborted and the cycle is
/// redone from the last committed one.
///
/// **Exactly once.** Every user state records the offset of the newest record it reflects from
/// each input topic, and a record at or below it is skipped. So any replay is harmless, and the
/// worker may resume a partition anywhere at or before the first record its state lacks. When
/// partitions are assigned, the worker first replays the changelog from its store's checkpoint
/// (`ChangelogRestorer`), then resumes at the larger of its stored offset and the group's
/// committed offset: both are written only after the states they cover are in the changelog.
/// A crash before 3 therefore replays the cycle (re-published vectors carry the same update
/// sequences, so subscribers drop them), and a worker taking over a partition continues from
/// the previous owner's state without losing or double-counting a record.
public final class StreamWorker: KafkaRebalanceHandler {
    /// What the worker reads and when it publishes.
    public enum Mode: Sendable, Equatable {
        /// Consumer-group member on the listens topic, publishing every updated user each cycle.
        case stream
        /// Reads every partition of `topic` to the end as of start-up, then publishes each touched
        /// user's final vector once.
        case backfill(topic: String)
    }

    /// When `run` returns (besides `shouldStop`).
    public enum StopCondition: Sendable {
        /// Only when `shouldStop` says so.
        case never
        /// When every assigned input partition has been read up to its high watermark, checked
        /// only once `gate` returns true (e.g. once a producer has finished).
        case whenCaughtUp(gate: @Sendable () -> Bool = { true })
        /// After a cycle that brings the records read to at least this many.
        case afterRecords(Int)
    }

    private let config: WorkerConfiguration
    private let mode: Mode
    private let encoder: RepresentationBatchEncoder
    private let store: StateStore
    private let consumer: KafkaConsumer
    private let producer: KafkaProducer
    /// The output and changelog topics, opened once for the per-record produce calls.
    private let outputTopic: KafkaOutputTopic
    private let changelogTopic: KafkaOutputTopic
    private let tracks: TrackTableReader
    private let logger: Logger
    private let shouldStop: @Sendable () -> Bool
    /// Input topics; index 0 is listens (or the replay topic), index 1 onboarding (stream mode).
    private let inputTopics: [String]
    private let batch: KafkaMessageBatch
    private var pending = PendingUpdates()
    private var encodedStates = EncodedStates()
    private let restorer: ChangelogRestorer
    /// An error raised inside a rebalance callback (which cannot throw), rethrown after the poll.
    private var rebalanceError: Error?
    /// Next offsets of finished work, and what the group has confirmed of them.
    private var offsets = GroupOffsetLedger()
    private var nextOffsets: [KafkaTopicPartition: Int64] { offsets.own }
    private var lastGroupCommit = Date.distantPast
    /// Dead letters go through this, cut to a size the broker takes.
    private let deadLetters: DeadLetterWriter
    /// Stops the worker when nearly every listen names an unknown track (a misconfiguration).
    private var misconfiguration = MisconfigurationGuard()
    private var backfillTargets: [KafkaTopicPartition: Int64] = [:]
    private var touched = Set<UserKey>()
    private var valueBuffer: [UInt8] = []
    private let batchIDBytes: [UInt8]
    private let embeddingBatchIDBytes: [UInt8]
    private var lastProgress = Date()
    private let started = Date()
    private var firstRecordAt: Date?
    private var lastCycleEnd: Date?
    private let health: WorkerHealth
    private var lastProbe = Date.distantPast
    /// Counters; read after `run` returns.
    public private(set) var metrics = WorkerMetrics()
    /// Called with progress lines during a backfill (events/s, done/total, ETA).
    public var progress: ((String) -> Void)?
    /// Called on the worker's thread once assigned partitions are restored and ready to read
    /// (e.g. so a benchmark offers load only once the worker can take it).
    public var onAssigned: (([KafkaTopicPartition]) -> Void)?
    /// Whether per-event latency samples are recorded (for `bench`).
    public var recordLatency = false

    /// Opens the state store, reads the track table and joins the group (or assigns the replay topic).
    public init(
        configuration: WorkerConfiguration, model: EncoderModel, mode: Mode = .stream,
        logger: Logger = Logger(label: "userrep.worker"), shouldStop: @escaping @Sendable () -> Bool = { false }
    ) throws {
        self.config = configuration
        self.mode = mode
        self.logger = logger
        self.shouldStop = shouldStop
        encoder = RepresentationBatchEncoder(model: model, threads: configuration.computeThreads)
        health = WorkerHealth(unreachableTimeoutMs: configuration.unreachableTimeoutMs, readyFile: configuration.readyFile, logger: logger)
        batchIDBytes = Array(model.batchID.utf8)
        embeddingBatchIDBytes = Array(model.manifest.embeddingBatchId.utf8)
        let dims = model.manifest.embeddingDims
        switch mode {
        case .stream: inputTopics = [configuration.topics.listens, configuration.topics.onboarding]
        case .backfill(let topic): inputTopics = [topic]
        }
        misconfiguration.maxUnknownRatio = configuration.maxUnknownTrackRatio
        try StartupChecks.requireFreeSpace(at: configuration.stateDirectory, minimumBytes: configuration.minFreeDiskBytes)
        producer = try KafkaProducer(configuration: configuration.kafka, transactionalID: mode == .stream ? configuration.transactionalID : nil)
        // Every topic must exist before any is opened: opening one to write may make a broker
        // auto-create it, with the wrong partition count and no compaction.
        let changelog = mode == .stream ? [configuration.changelogTopic] : []
        let counts = try StartupChecks.partitionCounts(
            of: inputTopics + changelog + [configuration.topics.tracks, configuration.topics.output, configuration.topics.deadLetters],
            producer: producer, bootstrap: configuration.kafka["bootstrap.servers"] ?? "(not set)")
        // A user's state lives with their partition number, so every input topic must be
        // partitioned alike (same count, keyed by user id).
        let sameCount = inputTopics + changelog
        guard Set(sameCount.compactMap { counts[$0] }).count <= 1 else {
            throw WorkerError("input and changelog topics must have the same number of partitions: \(sameCount.map { "\($0)=\(counts[$0] ?? 0)" }.joined(separator: ", "))")
        }
        store = try StateStore(directory: configuration.stateDirectory, embeddingBatchID: model.manifest.embeddingBatchId, width: model.layout.listenWidth)
        // States are mostly float sums, which zstd barely shrinks; lz4 costs a fraction of its CPU.
        try producer.configureTopic(configuration.changelogTopic, properties: ["compression.codec": "lz4"])
        changelogTopic = try producer.openTopic(configuration.changelogTopic)
        outputTopic = try producer.openTopic(configuration.topics.output)
        deadLetters = DeadLetterWriter(producer: producer, topic: try producer.openTopic(configuration.topics.deadLetters), maxBytes: configuration.maxDeadLetterBytes)
        tracks = try TrackTableReader(kafka: configuration.kafka, topic: configuration.topics.tracks,
                                      batchID: model.manifest.embeddingBatchId, dims: dims,
                                      deadLettered: try store.offsets(topic: configuration.topics.tracks), logger: logger)
        batch = KafkaMessageBatch(topics: inputTopics)
        restorer = ChangelogRestorer(topic: configuration.changelogTopic, embeddingBatchID: model.manifest.embeddingBatchId,
                                     inputTopics: inputTopics, logger: logger)
        // The range assignor gives listens[p] and onboarding[p] to the same member, which the
        // state layout needs (a user's state lives with partition p of both topics).
        consumer = try KafkaConsumer(configuration: configuration.kafka.overriding([
            "group.id": configuration.groupID, "partition.assignment.strategy": "range",
        ]), rebalance: nil)
        consumer.setRebalanceHandler(self)
    }

    /// Runs cycles until `shouldStop` or `condition`; flushes state, commits the group offsets
    /// and leaves the group on return (each within `shutdownTimeoutMs`; `stopReport` says which
    /// completed). Throws on a condition the worker must not work on: a track table that does not
    /// fit the model, a storage error, a failed delivery.
    @discardableResult
    public func run(until condition: StopCondition = .never) throws -> WorkerMetrics {
        var kafkaAway = false
        do {
            try runCycles(until: condition)
        } catch is StopWithCyclePending {
            kafkaAway = true
            // Nothing of the cycle was stored or committed: it is redone at the next start. Its
            // queued records are dropped so that closing the producer does not wait for them.
            logger.warning("stopping with the cycle's records unconfirmed by Kafka; the next start redoes the cycle")
            producer.purge()
        } catch {
            // Not ready, and the error reaches the caller (and the exit code) whatever happens here.
            health.shutDown()
            stopReport.groupLeft = consumer.close(timeoutMs: config.shutdownTimeoutMs)
            do { try store.flush() } catch let flushError { logger.error("state store flush failed after an error: \(flushError)") }
            throw error
        }
        health.shutDown()
        // The group steps share the time bound; with Kafka known to be away, the commit is skipped.
        if !isBackfill && !kafkaAway { stopReport.groupCommitted = commitGroupOffsets(timeoutMs: config.shutdownTimeoutMs / 2) }
        stopReport.groupLeft = consumer.close(timeoutMs: config.shutdownTimeoutMs / 2)
        try store.flush()
        stopReport.stateFlushed = true
        metrics.stateBytesWritten = store.stateBytesWritten
        metrics.stateCacheMisses = store.cacheMisses
        metrics.trackUpdates = tracks.applied
        metrics.tracksOtherBatch = tracks.otherBatch
        logger.info("worker stopped", metadata: ["metrics": "\(metrics.summary)", "state_flushed": "\(stopReport.stateFlushed)",
                                                 "group_offsets_committed": "\(stopReport.groupCommitted)", "group_left": "\(stopReport.groupLeft)"])
        return metrics
    }

    /// Thrown out of a cycle that a stop abandons while Kafka does not answer.
    private struct StopWithCyclePending: Error {}

    /// What the last `run` completed on its way out.
    public private(set) var stopReport = StopReport()

    private func runCycles(until condition: StopCondition) throws {
        guard try tracks.catchUp(shouldStop: shouldStop) else {
            logger.info("stopped while loading the track table")
            return
        }
        try tracks.requireFitsModel()
        switch mode {
        case .stream:
            try consumer.subscribe(inputTopics)
        case .backfill(let topic):
            guard let n = try consumer.partitionCount(topic: topic) else { throw KafkaError("replay topic '\(topic)' does not exist") }
            let stored = try store.offsets(topic: topic)
            var assignment: [KafkaTopicPartition: KafkaOffset] = [:]
            for p in 0..<Int32(n) {
                let tp = KafkaTopicPartition(topic: topic, partition: p)
                let marks = try consumer.watermarks(tp)
                backfillTargets[tp] = marks.high
                let start = stored[p] ?? marks.low
                offsets.assigned(tp, start: start, committed: nil)
                assignment[tp] = .at(start)
            }
            try consumer.assign(assignment)
        }
        health.contact()
        while !shouldStop() {
            var clock = StageClock()
            let n = try consumer.poll(into: batch, maxMessages: config.maxBatchRecords, timeoutMs: config.pollTimeoutMs)
            if let error = rebalanceError { throw error }
            if n > 0 { clock.lap("poll", into: &metrics) }
            try tracks.poll()
            if n > 0 { health.contact() } else { probeKafka() }
            if !isBackfill && Date().timeIntervalSince(lastGroupCommit) >= 1 { _ = commitGroupOffsets(timeoutMs: 2_000) }
            if n == 0 && tracks.rejected.isEmpty {
                reportProgress(force: false)
                if case .whenCaughtUp(let gate) = condition, gate(), try caughtUp() { break }
                if isBackfill, try caughtUp() { break }
                continue
            }
            try runCycle(count: n)
            if case .afterRecords(let limit) = condition, metrics.recordsRead >= limit { break }
            reportProgress(force: false)
            if isBackfill, try caughtUp() { break }
        }
        metrics.processingSeconds = lastCycleEnd.map { $0.timeIntervalSince(firstRecordAt ?? $0) } ?? 0
        if isBackfill && !shouldStop() {
            reportProgress(force: true)
            try publishBackfill()
        }
    }

    /// Commits, and waits for, every partition whose group offset is behind this worker's own
    /// (a commit that failed, a partition taken over from local state, one that went idle), so
    /// the group's offsets converge on the work done. Returns whether the group is now level.
    private func commitGroupOffsets(timeoutMs: Int32) -> Bool {
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
            logger.warning("group offset commit failed; retrying in a second", metadata: ["partitions": "\(due.count)", "error": "\(error)"])
            return false
        }
    }

    private var isBackfill: Bool { if case .backfill = mode { true } else { false } }
    /// Whether each cycle is one Kafka transaction (outputs, changelog and input offsets).
    private var transactional: Bool { config.transactionalID != nil && !isBackfill }

    /// One poll cycle's work; see the commit order in the type's documentation.
    private func runCycle(count n: Int) throws {
        if firstRecordAt == nil { firstRecordAt = Date() }
        defer { lastCycleEnd = Date() }
        pending.reset()
        // Parse on every compute thread, then group by user in arrival order.
        let records = batch.sharedView()
        var parsed = parse(records)
        var listens = listenCounts(parsed)
        if misconfiguration.trips(listens: listens.total, unknown: listens.unknown) {
            // Perhaps the track table lags behind the listens: read it to its end and look again.
            _ = try tracks.catchUp(shouldStop: { false })
            parsed = parse(records)
            listens = listenCounts(parsed)
            if misconfiguration.trips(listens: listens.total, unknown: listens.unknown) {
                throw WorkerError("\(listens.unknown) of \(listens.total) listens of this cycle name tracks that are not in the track table of embedding batch '\(tracks.table.batchID)' (\(tracks.table.count) tracks); that is a track table that does not fit the model, not bad input, so the worker stops before committing them (--max-unknown-track-ratio \(config.maxUnknownTrackRatio)). Import the batch's tracks or run the model of the batch the table holds")
            }
        }
        misconfiguration.record(listens: listens.total, unknown: listens.unknown)
        var rejected: [(DeadLetterRecord, InputRejection)] = tracks.rejected
        tracks.rejected.removeAll()
        // Next offset per (input topic lane, partition), keyed by an integer so the per-record
        // update hashes no topic name.
        var nextByLane: [Int: Int64] = [:]
        var timestamps: [Int64] = []
        if recordLatency { timestamps.reserveCapacity(n) }
        var clock = StageClock()
        for i in 0..<n {
            let m = records[i]
            metrics.recordsRead += 1
            switch parsed[i] {
            case .foreign:
                continue
            case .event(let user, let event):
                pending.add(user: user, event, lane: m.topicIndex, offset: m.offset)
                if recordLatency, let ts = m.timestampMs { timestamps.append(ts) }
            case .rejected(let record, let rejection):
                rejected.append((record, rejection))
            }
            nextByLane[m.topicIndex << 32 | Int(UInt32(bitPattern: m.partition))] = m.offset + 1
        }
        let cycleOffsets = Dictionary(uniqueKeysWithValues: nextByLane.map { key, next in
            (KafkaTopicPartition(topic: inputTopics[key >> 32], partition: Int32(truncatingIfNeeded: key)), next)
        })
        clock.lap("parse", into: &metrics)
        // Apply the cycle's events to state, in arrival order per user.
        var states = try store.take(pending.users).map { $0 ?? UserState(width: encoder.model.layout.listenWidth) }
        clock.lap("load", into: &metrics)
        let outcome = StateApplier(tracks: tracks.table, listenWidth: encoder.model.layout.listenWidth)
            .apply(pending, to: &states, threads: config.computeThreads)
        metrics.duplicatesSkipped += outcome.duplicates
        metrics.listensApplied += outcome.listens
        metrics.onboardingsApplied += outcome.onboardings
        metrics.unknownArtists += outcome.unknownArtists
        clock.lap("apply", into: &metrics)
        // The changed users and the trigger of their output; their states move to the front of
        // `states` (swapped, not copied) and the unchanged ones are dropped.
        var users: [UserKey] = []
        var triggers: [RepresentationTrigger] = []
        users.reserveCapacity(states.count)
        triggers.reserveCapacity(states.count)
        for i in states.indices where outcome.changed[i] {
            states.swapAt(users.count, i)
            users.append(pending.users[i])
            triggers.append(pending.onboarded[i] ? .onboarding : .listen)
        }
        states.removeLast(states.count - users.count)
        encodedStates.encode(states, threads: config.computeThreads)
        clock.lap("serialize", into: &metrics)

        // The group may have moved our partitions while we worked: then they are someone else's.
        if !isBackfill && consumer.assignmentLost {
            logger.warning("assignment lost during a cycle; dropping it unpublished", metadata: ["records": "\(n)"])
            discardCycle(partitions: Set(cycleOffsets.keys.map(\.partition)))
            return
        }

        // 1. Produce state changes, outputs and dead letters.
        if transactional { try producer.beginTransaction() }
        if isBackfill {
            touched.formUnion(users)
        } else {
            try writeChangelog(users)
            clock.lap("changelog", into: &metrics)
            try publish(users, states, triggers: triggers, clock: &clock)
        }
        var trackOffsets: [Int32: Int64] = [:]
        for (record, rejection) in rejected {
            metrics.deadLetter(rejection.reason)
            if try deadLetters.send(record, rejection) { metrics.deadLettersTruncated += 1 }
            if record.topic == config.topics.tracks { trackOffsets[record.partition] = max(trackOffsets[record.partition] ?? 0, record.offset + 1) }
        }
        if !rejected.isEmpty {
            logger.debug("dead-lettered records", metadata: ["count": "\(rejected.count)", "first": "\(rejected[0].1)"])
        }
        // 2. Every record delivered, or the cycle fails here. In transactional mode the input
        // offsets commit with the records, atomically, or the cycle is aborted and redone.
        let committed: Bool
        if transactional {
            committed = try commitTransaction(cycleOffsets)
        } else {
            try flushOutputs()
            committed = true
        }
        clock.lap("flush", into: &metrics)
        guard committed else { return }
        // 3. State and offsets together.
        // Dead-lettered track records are remembered (as offsets of the track topic), so a
        // restart that reads the table again does not dead-letter them again.
        let stored = cycleOffsets.map { SourceOffset(topic: $0.key.topic, partition: $0.key.partition, next: $0.value) }
            + trackOffsets.map { SourceOffset(topic: config.topics.tracks, partition: $0.key, next: $0.value) }
        let checkpoints = Dictionary(uniqueKeysWithValues: producer.takeDeliveredOffsets().map { ($0.key.partition, $0.value) })
        try store.commit(users: users, states: states, encoded: encodedStates, offsets: stored, checkpoints: checkpoints)
        offsets.finished(cycleOffsets)
        // 4. Group offsets (already committed by the transaction in transactional mode). A
        // failed asynchronous commit is caught up by `commitGroupOffsets` within a second.
        if transactional {
            offsets.confirmed(cycleOffsets)
        } else {
            do { try consumer.commit(cycleOffsets, async: true) } catch { logger.warning("group offset commit failed: \(error)") }
        }
        clock.lap("commit", into: &metrics)
        // Where a slow cycle's time went, for whoever is on call (`--log-level debug`).
        logger.debug("cycle", metadata: ["records": "\(n)", "users": "\(users.count)", "stages_ms": "\(clock.summary)"])

        if recordLatency {
            let now = Self.nowMs()
            for ts in timestamps where metrics.latencySamplesMs.count < metrics.maxLatencySamples {
                metrics.latencySamplesMs.append(Double(now - ts))
            }
        }
        metrics.cycles += 1
    }

    /// Parses a poll batch on the compute threads.
    private func parse(_ records: KafkaRecordsView) -> [ParsedRecord] {
        EventValidator(maxRecordBytes: config.maxRecordBytes, tracks: tracks.table)
            .parse(records, threads: config.computeThreads, chunk: config.parseChunkRecords)
    }

    /// Listens of a parse (valid or not) and those refused for naming an unknown track.
    private func listenCounts(_ parsed: [ParsedRecord]) -> (total: Int, unknown: Int) {
        var total = 0, unknown = 0
        for p in parsed {
            switch p {
            case .event(_, .listen): total += 1
            case .rejected(_, let r) where r.reason == .unknownTrack: total += 1; unknown += 1
            case .rejected(let record, _) where record.topic == inputTopics[0]: total += 1
            default: break
            }
        }
        return (total, unknown)
    }

    /// Produces each changed state to the changelog partition of its input partition.
    private func writeChangelog(_ users: [UserKey]) throws {
        let header = [KafkaHeader(name: ChangelogRestorer.embeddingBatchHeader, string: encoder.model.manifest.embeddingBatchId)]
        for i in users.indices {
            let key = users[i]
            try encodedStates.withState(i) { value in
                try key.userID.withUnsafeBytes { k in
                    try producer.produce(to: changelogTopic, partition: key.partition, key: k, value: value, headers: header, trackOffset: true)
                }
            }
        }
        metrics.changelogRecords += users.count
    }

    /// Encodes `states` and produces one record per user.
    private func publish(_ users: [UserKey], _ states: [UserState], triggers: [RepresentationTrigger], clock: inout StageClock) throws {
        guard !users.isEmpty else { return }
        let computeTime = Self.nowMs()
        let vectors = encoder.encodeVectors(states, tracks: tracks.table)
        metrics.usersEncoded += users.count
        clock.lap("encode", into: &metrics)
        let header = [KafkaHeader(name: RepresentationRecord.batchHeader, string: encoder.model.batchID)]
        let dim = encoder.model.outputSize
        try vectors.withUnsafeBufferPointer { all in
            for i in users.indices {
                let key = users[i]
                let vector = UnsafeBufferPointer(rebasing: all[(i * dim)..<((i + 1) * dim)])
                let trigger = triggers[i]
                switch config.outputFormat {
                case .protobuf:
                    RepresentationWireWriter.write(
                        userID: key.userID, batchID: batchIDBytes, embeddingBatchID: embeddingBatchIDBytes, vector: vector,
                        eventTimeMs: states[i].newestEventTimeMs, computeTimeMs: computeTime, updateSequence: states[i].updateSequence,
                        trigger: trigger, into: &valueBuffer)
                case .json:
                    valueBuffer = try RepresentationRecord(
                        userID: key.userIDString, batchID: encoder.model.batchID, embeddingBatchID: encoder.model.manifest.embeddingBatchId,
                        vector: Array(vector), eventTimeMs: states[i].newestEventTimeMs, computeTimeMs: computeTime,
                        updateSequence: states[i].updateSequence, trigger: trigger).encoded(.json)
                }
                try key.userID.withUnsafeBytes { k in
                    try valueBuffer.withUnsafeBytes { v in
                        try producer.produce(to: outputTopic, key: k, value: v, headers: header)
                    }
                }
            }
        }
        metrics.outputsPublished += users.count
        clock.lap("produce", into: &metrics)
    }

    /// Sends the cycle's input offsets into the transaction and commits it, retrying what may be
    /// retried. Returns false if the transaction had to be aborted (a fenced or failed cycle):
    /// nothing of it is visible, and the partitions are rewound to the last committed cycle.
    private func commitTransaction(_ offsets: [KafkaTopicPartition: Int64]) throws -> Bool {
        let timeout = config.deliveryTimeoutMs
        do {
            var attempt = 0
            while true {
                do {
                    try producer.sendOffsets(offsets, of: consumer, timeoutMs: timeout)
                    try producer.commitTransaction(timeoutMs: timeout)
                    health.contact()
                    return true
                } catch let error as KafkaError where error.isRetriable && !error.requiresAbort && attempt < 5 {
                    attempt += 1
                    logger.warning("transaction commit failed, retrying (attempt \(attempt) of 5): \(error)")
                    health.evaluate()
                }
            }
        } catch let error as KafkaError where error.requiresAbort {
            logger.warning("aborting the cycle's transaction; its records are redone: \(error)")
            try producer.abortTransaction(timeoutMs: timeout)
            let partitions = Set(offsets.keys.map(\.partition))
            discardCycle(partitions: partitions)
            try consumer.seek(nextOffsets.filter { partitions.contains($0.key.partition) && consumer.assignment.contains($0.key) })
            return false
        }
    }

    /// Forgets a cycle's unwritten work: cached states of its partitions are reloaded from the
    /// store on next use.
    private func discardCycle(partitions: Set<Int32>) {
        store.evictCache(partitions: partitions)
        metrics.cyclesDiscarded += 1
    }

    /// Waits for every queued record's delivery in one-second steps, reporting readiness while
    /// Kafka is away; gives up (throws) only after `deliveryTimeoutMs`, or on a delivery failure.
    /// A stop was requested and Kafka has not confirmed the cycle within `shutdownTimeoutMs`, so
    /// the stop does not wait out `deliveryTimeoutMs`.
    private func flushOutputs() throws {
        let started = Date()
        var stopRequested: Date?
        while true {
            do {
                try producer.flush(timeoutMs: 1_000)
                health.contact()
                return
            } catch let error as KafkaError where error.isTimeout {
                health.evaluate()
                if shouldStop() {
                    let since = stopRequested ?? Date()
                    stopRequested = since
                    if Date().timeIntervalSince(since) * 1000 >= Double(config.shutdownTimeoutMs) / 2 { throw StopWithCyclePending() }
                }
                guard Date().timeIntervalSince(started) * 1000 < Double(config.deliveryTimeoutMs) else { throw error }
            }
        }
    }

    /// While idle, asks Kafka something cheap once a second so readiness reflects reachability.
    private func probeKafka() {
        guard Date().timeIntervalSince(lastProbe) >= 1 else { return }
        lastProbe = Date()
        do {
            try producer.ping(timeoutMs: 500)
            health.contact()
        } catch {
            health.evaluate()
        }
    }

    /// Whether the worker currently counts as ready (Kafka answered recently).
    public var isReady: Bool { health.isReady }

    /// Backfill's end: every touched user's final vector, once.
    private func publishBackfill() throws {
        let users = touched.sorted {
            $0.partition != $1.partition ? $0.partition < $1.partition : $0.userID.lexicographicallyPrecedes($1.userID)
        }
        var start = 0
        while start < users.count {
            let chunk = Array(users[start..<min(users.count, start + 10_000)])
            let loaded = try store.load(chunk)
            let present = loaded.indices.filter { loaded[$0] != nil }
            var clock = StageClock()
            try publish(present.map { chunk[$0] }, present.compactMap { loaded[$0] }, triggers: present.map { _ in .backfill }, clock: &clock)
            try flushOutputs()
            start += chunk.count
        }
        logger.info("backfill published final vectors", metadata: ["users": "\(users.count)"])
    }

    /// Whether every assigned input partition has been read to its high watermark (for backfill:
    /// the watermark as of start-up).
    private func caughtUp() throws -> Bool {
        if isBackfill {
            return backfillTargets.allSatisfy { tp, high in (nextOffsets[tp] ?? 0) >= high }
        }
        let assigned = consumer.assignment
        guard !assigned.isEmpty else { return false }
        for tp in assigned {
            let high = try consumer.watermarks(tp).high
            if (nextOffsets[tp] ?? 0) < high { return false }
        }
        return true
    }

    private func reportProgress(force: Bool) {
        guard isBackfill, let progress, force || Date().timeIntervalSince(lastProgress) >= 1 else { return }
        lastProgress = Date()
        let total = backfillTargets.values.reduce(0, +)
        let done = backfillTargets.reduce(Int64(0)) { $0 + min(nextOffsets[$1.key] ?? 0, $1.value) }
        let elapsed = max(Date().timeIntervalSince(started), 0.001)
        let rate = Double(metrics.recordsRead) / elapsed
        let lag = total - done
        let eta = rate > 0 ? Double(lag) / rate : 0
        progress(String(format: "backfill: %lld/%lld events (%.0f%%), %.0f events/s, lag %lld, ETA %.0fs",
                        done, total, total > 0 ? 100 * Double(done) / Double(total) : 100, rate, lag, eta))
    }

    // MARK: KafkaRebalanceHandler

    /// Restores each assigned partition's state from the changelog, then starts it at the larger of
    /// this store's offset and the group's committed offset (or at the beginning). Kafka errors
    /// (a broker away, a coordinator moving) are retried with backoff for about a minute; a
    /// restore continues from its last checkpoint.
    public func partitionsAssigned(_ partitions: [KafkaTopicPartition]) -> [KafkaTopicPartition: KafkaOffset] {
        logger.info("partitions assigned", metadata: ["partitions": "\(partitions.map(\.description).sorted())"])
        metrics.assignments += 1
        var attempt = 0
        while true {
            do {
                let starts = try startOffsets(partitions)
                onAssigned?(partitions)
                return starts
            } catch let error as KafkaError where attempt < 8 && !shouldStop() {
                attempt += 1
                let delay = min(1 << attempt, 10)
                logger.warning("cannot prepare assigned partitions, retrying in \(delay) s (attempt \(attempt) of 8): \(error)")
                health.evaluate()
                sleep(UInt32(delay))
            } catch {
                // Thrown from `run` after this poll; nothing is processed meanwhile.
                rebalanceError = error
                return [:]
            }
        }
    }

    /// Restores `partitions` and decides where each starts.
    private func startOffsets(_ partitions: [KafkaTopicPartition]) throws -> [KafkaTopicPartition: KafkaOffset] {
        if !isBackfill { try restore(Set(partitions.map(\.partition))) }
        let committed = isBackfill ? [:] : try consumer.committed(partitions)
        var starts: [KafkaTopicPartition: KafkaOffset] = [:]
        for topic in Set(partitions.map(\.topic)) {
            let stored = try store.offsets(topic: topic)
            for tp in partitions where tp.topic == topic {
                let next = [stored[tp.partition], committed[tp]].compactMap { $0 }.max()
                starts[tp] = next.map { .at($0) } ?? .beginning
                offsets.assigned(tp, start: next ?? 0, committed: committed[tp])
            }
        }
        logger.debug("start offsets", metadata: ["starts": "\(starts.map { "\($0.key)=\($0.value)" }.sorted())"])
        return starts
    }

    /// Replays the changelog of `partitions` into the store.
    private func restore(_ partitions: Set<Int32>) throws {
        let reader = try KafkaConsumer(configuration: config.kafka.overriding(["group.id": "\(config.groupID)-restore"]), trackPartitionEnd: true)
        defer { reader.close() }
        for p in partitions.sorted() {
            let outcome = try restorer.restore(partition: p, into: store, consumer: reader)
            if outcome.records > 0 || outcome.rebuilt {
                metrics.partitionsRestored += 1
                metrics.restoredRecords += outcome.records
            }
        }
    }

    /// Commits the revoked partitions' offsets (every finished cycle is already in the store and
    /// the changelog) so their next owner starts where this worker stopped.
    public func partitionsRevoked(_ partitions: [KafkaTopicPartition]) {
        let due = offsets.remove(partitions)
        if !isBackfill && !consumer.assignmentLost && !due.isEmpty {
            do { try consumer.commit(due, timeoutMs: config.shutdownTimeoutMs / 2) } catch { logger.warning("offset commit on revoke failed: \(error)") }
        }
        store.evictCache(partitions: Set(partitions.map(\.partition)))
        logger.info("partitions revoked", metadata: ["partitions": "\(partitions.map(\.description).sorted())"])
    }

    static func nowMs() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }
}

/// Attributes elapsed wall time to the stages of a cycle.
struct StageClock {
    private var last = DispatchTime.now().uptimeNanoseconds
    /// This clock's stages and their milliseconds, in order.
    private(set) var laps: [(stage: String, ms: Double)] = []

    mutating func lap(_ stage: String, into metrics: inout WorkerMetrics) {
        let now = DispatchTime.now().uptimeNanoseconds
        metrics.stageSeconds[stage, default: 0] += Double(now - last) / 1e9
        laps.append((stage, Double(now - last) / 1e6))
        last = now
    }

    /// The laps as `stage=ms` pairs, for a log line.
    var summary: String { laps.map { String(format: "%@=%.1f", $0.stage, $0.ms) }.joined(separator: " ") }
}
