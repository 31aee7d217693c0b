// The worker loop: poll → parse → update state → encode → produce → commit, one poll per cycle.
import CoreMetrics
import Foundation
import Logging
import UserRepKafka
import UserRepModel
import UserRepState

/// Consumes input events, keeps per-user state and publishes representations.
///
/// Each poll cycle ends in `CycleCheckpoint`, which owns the commit order (written down there,
/// once) and its retries; the cycle (`StreamWorker+Cycle.swift`) is the hot path: poll → parse → apply → serialize →
/// checkpoint (changelog, encode, produce, flush, store, group).
///
/// **Exactly once.** Every user state records the offset of the newest record it reflects from
/// each input topic, and a record at or below it is skipped. So any replay is harmless, and the
/// worker may resume a partition anywhere at or before the first record its state lacks. When
/// partitions are assigned, the worker first replays the changelog from its store's checkpoint
/// (`ChangelogRestorer`), then resumes at the larger of its stored offset and the group's
/// committed offset: both are written only after the states they cover are in the changelog.
/// A crash before 3 therefore replays the cycle (re-published vectors carry the same update
/// sequences, so subscribers drop them; where the cycle's changelog records were delivered and
/// restore its states, the replay republishes them, `StateApplier.Outcome.changed`), and a
/// worker taking over a partition continues from the previous owner's state without losing or
/// double-counting a record.
public final class StreamWorker: KafkaRebalanceHandler {
    /// What the worker reads and when it publishes.
    public enum Mode: Sendable, Equatable {
        /// Consumer-group member on the listens topic, publishing every updated user each cycle.
        case stream
        /// Reads every partition of the listens replay `topic` (and of `onboarding`, a replay of
        /// onboarding events, if given) to the end as of start-up, then publishes each stored
        /// user's final vector once.
        case backfill(topic: String, onboarding: String? = nil)
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

    let config: WorkerConfiguration
    private let mode: Mode
    /// The model batches published (every cycle in stream mode, once at the end of a backfill).
    let batches: LiveBatches
    /// The batch registry followed (nil with a fixed model).
    let registryTopic: BatchRegistryTopic?
    /// The registry version the published batches come from.
    var appliedRegistryVersion = 0
    var batchModels = BatchModels()
    /// Batch jobs (re-encodes, retires) this worker owes on its partitions, in order.
    var jobs: [BatchJob] = []
    var jobLimiter: RateLimiter?
    /// The partitions `jobs` were planned for.
    var jobPartitions: Set<Int32> = []
    /// Event-time watermark per owned partition: the newest event time of its stored users.
    var watermarks: [Int32: Int64] = [:]
    var timerLimiter: RateLimiter?
    /// The partition the next timer step looks at first (round robin).
    var timerCursor = 0
    /// Whether a fired page's timers wait for its outputs' delivery to be committed.
    var timerCommitPending = false
    /// Partitions of each input topic.
    private(set) var inputPartitions = 0
    /// A seeded state's hand-off time (`StateStore.handOffMs`): live events at or before it are
    /// in the state already. Never applied to a backfill's replay.
    var handOffMs: Int64?
    let store: StateStore
    let consumer: KafkaConsumer
    let producer: KafkaProducer
    /// What each cycle's changes publish, settled once from the mode.
    let sink: CycleSink
    /// The commit order of every cycle, and the input positions it moves.
    let checkpoint: CycleCheckpoint
    let tracks: TrackTableReader
    let logger: Logger
    let shouldStop: @Sendable () -> Bool
    /// Input topics in lane order (`InputLane`): listens (or the replay topic), then onboarding.
    let inputTopics: [String]
    let polled: KafkaPolledRecords
    /// The next poll's record limit (`--max-poll-records`, cut by `--max-cycle-state-mb`).
    var sizer: CycleSizer
    var pending = PendingUpdates()
    var restorer: ChangelogRestorer
    /// When the last cycle began (after its poll), for `cycleLingerMs`.
    private var lastCycleStart: ContinuousClock.Instant?
    /// An error raised inside a rebalance callback (which cannot throw), rethrown after the poll.
    var rebalanceError: Error?
    var nextOffsets: [KafkaTopicPartition: Int64] { checkpoint.offsets.own }
    /// Stops the worker when nearly every listen names an unknown track (a misconfiguration).
    var misconfiguration = MisconfigurationGuard()
    /// Stops the worker when nearly every event is stamped ahead of its record (a wrong clock).
    var clockGuard = MisconfigurationGuard()
    /// Stops the worker when nearly every event is refused for its form (a changed format).
    var formGuard = MisconfigurationGuard()
    /// Input fetch positions the brokers no longer hold, still to resume (see
    /// `resumePartitionsPastDeletedRecords`).
    var outOfRange: [KafkaTopicPartition: Int64] = [:]
    /// The configs of the topics this worker writes, asked of the brokers at start (see
    /// `checkWrittenTopicConfigs`).
    var writtenTopicConfigs: WrittenTopicConfigs?
    /// Stops the worker when its input topics are partitioned by different partitioners.
    var coPartitioning = CoPartitioningGuard(topics: 0, partitions: 1)
    /// A backfill's end: the replay topic's high watermark per partition at start-up.
    var backfillTargets: [KafkaTopicPartition: Int64] = [:]
    var lastProgress = Date()
    let started = Date()
    /// When the current phase began: the run's start, or the last `onCaughtUp`.
    var phaseStarted = Date()
    /// The store's and the track table's counters when the current phase began.
    var countersAtPhaseStart = OutsideCounters()
    var firstRecordAt: Date?
    var lastCycleEnd: Date?
    /// The process's CPU seconds when the first record arrived and when the last cycle ended.
    var cpuAtFirstRecord: Double?
    var cpuAtLastCycleEnd: Double?
    let health: WorkerHealth
    private var lastProbe = Date.distantPast
    /// Counters; read after `run` returns.
    public internal(set) var metrics = WorkerMetrics()
    /// Called with progress lines during a backfill (events/s, done/total, ETA).
    public var progress: ((String) -> Void)?
    /// Called on the worker's thread once assigned partitions are restored and ready to read
    /// (e.g. so a benchmark offers load only once the worker can take it).
    public var onAssigned: (([KafkaTopicPartition]) -> Void)?
    /// Called once, on the worker's thread, the first time its input is read to the end with no
    /// timers due and no batch jobs owed (where `.whenCaughtUp()` would stop), with the metrics so
    /// far; `metrics` then count afresh, so `run` returns the rest's. Until then due timers fire
    /// without the rate limit. For a benchmark whose live load follows its backlog in one worker.
    public var onCaughtUp: ((WorkerMetrics) -> Void)?
    /// Whether per-event latency samples are recorded (for `bench`): from each record's timestamp
    /// to its cycle's delivery (`CycleCheckpoint.lastDeliveryMs`).
    public var recordLatency = false
    /// Where the worker's metrics go (`userrep run --metrics-port`: the Prometheus registry); nil for none.
    public var metricsFactory: (any MetricsFactory)?
    /// Liveness and readiness for probe endpoints, updated every loop.
    public let status = WorkerStatus()
    var telemetry: WorkerTelemetry?
    var lastTelemetryState = Date.distantPast

    /// Opens the state store, reads the track table and joins the group (or assigns the replay
    /// topic), publishing one fixed model.
    public convenience init(
        configuration: WorkerConfiguration, model: EncoderModel, mode: Mode = .stream,
        logger: Logger = Logger(label: "userrep.worker"), shouldStop: @escaping @Sendable () -> Bool = { false }
    ) throws {
        try self.init(configuration: configuration, models: .fixed(model), mode: mode, logger: logger, shouldStop: shouldStop)
    }

    /// Opens the state store, reads the track table and joins the group (or assigns the replay
    /// topic), publishing the models `models` names.
    public init(
        configuration: WorkerConfiguration, models: ModelSource, mode: Mode = .stream,
        logger: Logger = Logger(label: "userrep.worker"), shouldStop: @escaping @Sendable () -> Bool = { false }
    ) throws {
        // Only a group member's cycles are transactions; a backfill writes no group offsets.
        let transactionalID = mode == .stream ? configuration.transactionalID : nil
        self.config = configuration.withGaplessProducer(transactional: transactionalID != nil)
        self.mode = mode
        self.logger = logger
        self.shouldStop = shouldStop
        health = WorkerHealth(unreachableTimeoutMs: configuration.unreachableTimeoutMs, readyFile: configuration.readyFile, logger: logger)
        switch mode {
        case .stream: inputTopics = [configuration.topics.listens, configuration.topics.onboarding]
        case .backfill(let topic, let onboarding): inputTopics = [topic] + (onboarding.map { [$0] } ?? [])
        }
        misconfiguration.maxUnknownRatio = configuration.maxUnknownTrackRatio
        formGuard.maxUnknownRatio = configuration.maxMalformedRatio
        try StartupChecks.requireSafeKafkaProperties(configuration.kafka)
        try StartupChecks.requireFreeSpace(at: configuration.stateDirectory, minimumBytes: configuration.minFreeDiskBytes)
        let producer = try KafkaProducer(configuration: config.kafka, transactionalID: transactionalID)
        self.producer = producer
        // The models and their output topics; the topics are opened only after every one is
        // known to exist (opening one to write may make a broker auto-create it, with the wrong
        // partition count and no compaction).
        let first: [(entry: BatchEntry?, model: EncoderModel, topic: String)]
        let layoutModel: EncoderModel
        switch models {
        case .fixed(let model):
            registryTopic = nil
            first = [(nil, model, configuration.topics.output)]
            layoutModel = model
        case .registry(let pinned):
            guard mode == .stream else { throw WorkerError("a backfill publishes one model (--model), not the registry's batches") }
            let registry = try BatchRegistryTopic(kafka: configuration.kafka, topic: configuration.topics.batches, logger: logger)
            try registry.catchUp(shouldStop: shouldStop)
            registryTopic = registry
            // A worker's state keeps its embedding batch; a new state takes the current batch's.
            let embedding = try pinned ?? StateStore.storedEmbeddingBatch(directory: configuration.stateDirectory)
            let start = try Self.startingEntries(registry.registry, pinned: embedding, topic: registry.topic)
            var loaded = BatchModels()
            first = try start.live.map { entry in
                (entry, try loaded.model(for: entry), configuration.topics.output(forBatch: entry.batchID))
            }
            layoutModel = try first.first?.model ?? loaded.model(for: start.layout)
            if start.live.isEmpty {
                logger.warning(
                    "no live batch reads this worker's embedding batch '\(start.layout.embeddingBatchID)' yet: it builds its state for staged batch '\(start.layout.batchID)' and publishes nothing until that is promoted"
                )
            }
            appliedRegistryVersion = registry.registry?.version ?? 0
            batchModels = loaded
        }
        // A seeding backfill writes the seeded group's changelog, and its state must be
        // partitioned as that group's live input topics are.
        let seeded = mode == .stream ? nil : configuration.seedChangelogTopic
        let changelog = mode == .stream ? [configuration.changelogTopic] : seeded.map { [$0, configuration.topics.listens] } ?? []
        // The changelog this run writes: the group's own, or the seeded group's (none otherwise).
        let writtenChangelog = mode == .stream ? configuration.changelogTopic : seeded
        // Every topic has one role.
        let inputRoles = mode == .stream ? ["listens", "onboarding"] : ["replay", "onboarding-replay"]
        var roles = zip(inputRoles, inputTopics).map { (role: "\($0) topic (--\($0)-topic)", topic: $1) }
        roles.append(("track-embeddings topic (--tracks-topic)", configuration.topics.tracks))
        roles += first.map { ("output topic (--output-topic)", $0.topic) }
        roles.append(("dead-letter topic (--dead-letter-topic)", configuration.topics.deadLetters))
        if let writtenChangelog { roles.append(("state changelog topic (--changelog-topic)", writtenChangelog)) }
        if let registryTopic { roles.append(("batch registry topic (--batches-topic)", registryTopic.topic)) }
        try StartupChecks.requireOneRolePerTopic(roles)
        let counts = try StartupChecks.partitionCounts(
            of: inputTopics + changelog + [configuration.topics.tracks, configuration.topics.output, configuration.topics.deadLetters]
                + first.map(\.topic).filter { $0 != configuration.topics.output },
            producer: producer, bootstrap: configuration.kafka["bootstrap.servers"] ?? "(not set)")
        batches = try LiveBatches(
            layout: layoutModel,
            first: try first.map {
                try LiveBatches.batch(
                    $0.model, entry: $0.entry, topic: $0.topic, producer: producer, format: configuration.outputFormat,
                    threads: configuration.computeThreads)
            }, producer: producer, format: configuration.outputFormat, threads: configuration.computeThreads)
        let written = (writtenChangelog.map { [$0] } ?? []) + [configuration.topics.deadLetters]
            + (mode == .stream ? first.map(\.topic) : [])
        writtenTopicConfigs = WrittenTopicConfigs(
            request: try producer.describeConfigs(of: written.distinctInOrder()), askedAt: Date(), changelog: writtenChangelog,
            producerLimit: config.kafka["message.max.bytes"].flatMap { Int($0) } ?? WrittenTopicConfigs.librdkafkaMessageMaxBytes)
        let embeddingBatchID = batches.embeddingBatchID
        let dims = batches.dims
        // A user's state lives with their partition number, so every input topic must be
        // partitioned alike (same count, keyed by user id).
        let sameCount = inputTopics + changelog
        inputPartitions = counts[inputTopics[0]] ?? 0
        coPartitioning = CoPartitioningGuard(topics: inputTopics.count, partitions: Int32(inputPartitions))
        guard Set(sameCount.compactMap { counts[$0] }).count <= 1 else {
            throw WorkerError(
                "input and changelog topics must have the same number of partitions: \(sameCount.map { "\($0)=\(counts[$0] ?? 0)" }.joined(separator: ", "))"
            )
        }
        let store = try StateStore(
            directory: configuration.stateDirectory, embeddingBatchID: embeddingBatchID, width: batches.listenWidth,
            cacheBytes: configuration.stateCacheBytes, database: configuration.stateDatabaseMemory)
        if mode == .stream, let unfinished = try store.unfinishedSeedMs() {
            throw WorkerError(
                "the seed of the state in \(configuration.stateDirectory) (backfill --seed-group, hand-off \(unfinished) ms) did not finish, so its changelog may be partial; run the same backfill again before starting the group"
            )
        }
        self.store = store
        // States are mostly float sums, which zstd barely shrinks; lz4 costs a fraction of its CPU.
        for topic in [configuration.changelogTopic] + (seeded.map { [$0] } ?? []) {
            try producer.configureTopic(topic, properties: ["compression.codec": "lz4"])
        }
        let deadLetters = DeadLetterWriter(
            producer: producer, topic: try producer.openTopic(configuration.topics.deadLetters), maxBytes: configuration.maxDeadLetterBytes)
        tracks = try TrackTableReader(
            kafka: configuration.kafka, topic: configuration.topics.tracks,
            batchID: embeddingBatchID, dims: dims, storeDirectory: configuration.trackStoreDirectory,
            cacheBytes: configuration.trackCacheBytes, deadLettered: try store.offsets(topic: configuration.topics.tracks), logger: logger)
        switch mode {
        case .stream:
            sink = LiveCycleSink(
                producer: producer, changelog: try producer.openTopic(configuration.changelogTopic),
                embeddingBatchID: embeddingBatchID, batches: batches, tracks: tracks)
        case .backfill:
            sink = BackfillCycleSink()
        }
        polled = KafkaPolledRecords(topics: inputTopics)
        sizer = CycleSizer(maxRecords: configuration.maxPollRecords, maxStateBytes: configuration.maxCycleStateBytes)
        restorer = ChangelogRestorer(
            topic: configuration.changelogTopic, embeddingBatchID: embeddingBatchID,
            inputTopics: inputTopics, logger: logger)
        restorer.maxRecordsPerPoll = min(configuration.maxPollRecords, 5_000)
        restorer.statesCommitWithOffsets = transactionalID != nil
        // The range assignor gives listens[p] and onboarding[p] to the same member, which the
        // state layout needs (a user's state lives with partition p of both topics). A position
        // the brokers no longer hold is reported, not moved silently (`resumePartitionsPastDeletedRecords`).
        consumer = try KafkaConsumer(
            configuration: configuration.kafka.overriding([
                "group.id": configuration.groupID, "partition.assignment.strategy": "range", "auto.offset.reset": "error",
            ]), rebalance: nil)
        checkpoint = CycleCheckpoint(
            producer: producer, consumer: consumer, store: store, deadLetters: deadLetters, health: health,
            config: config, transactional: transactionalID != nil,
            logger: logger, shouldStop: shouldStop)
        consumer.setRebalanceHandler(self)
        // A restore runs inside a poll; its progress keeps the worker live (not ready).
        restorer.onProgress = { [status] in status.loop(ready: false) }
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
            status.stopped()
            stopReport.groupLeft = consumer.close(timeoutMs: config.shutdownTimeoutMs)
            do { try store.flush() } catch let flushError { logger.error("state store flush failed after an error: \(flushError)") }
            throw error
        }
        health.shutDown()
        status.stopped()
        // Steps whose outputs wait for a flush, then the records queued once those are delivered
        // (batch-job progress, fired timers): deliver them, so that the checkpoint below covers
        // the fired-timer records. Steps left undelivered are redone by the next start.
        if !kafkaAway && checkpoint.deliveryPending {
            do { try checkpoint.flushOutputs() } catch {
                logger.warning("the outputs of the last timer or batch-job steps were not delivered; the next start redoes them: \(error)")
            }
        }
        if !kafkaAway { checkpoint.deliverConfirmations(timeoutMs: config.shutdownTimeoutMs / 4) }
        if !kafkaAway && !isBackfill && !consumer.assignmentLost {
            do { try checkpoint.checkpointDeliveredChangelog(owned: Set(consumer.assignment.map(\.partition))) } catch {
                logger.warning("could not record the changelog checkpoint at stop; the next start restores what it missed: \(error)")
            }
        }
        // The group steps share the time bound; with Kafka known to be away, the commit is skipped.
        if !isBackfill && !kafkaAway {
            stopReport.groupCommitted = checkpoint.commitGroupOffsets(timeoutMs: config.shutdownTimeoutMs / 2, metrics: &metrics)
        }
        stopReport.groupLeft = consumer.close(timeoutMs: config.shutdownTimeoutMs / 2)
        try store.flush()
        try tracks.flush()
        stopReport.stateFlushed = true
        settleMetrics()
        logger.info(
            "worker stopped",
            metadata: [
                "metrics": "\(metrics.summary)", "state_flushed": "\(stopReport.stateFlushed)",
                "group_offsets_committed": "\(stopReport.groupCommitted)", "group_left": "\(stopReport.groupLeft)",
            ])
        return metrics
    }

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
        case .backfill:
            try assignReplay(inputTopics)
        }
        health.contact()
        telemetry = metricsFactory.map { WorkerTelemetry(factory: $0, inputTopics: inputTopics) }
        defer { reportTelemetry(force: true) }
        // Whether the last idle timer step fired timers and has tokens left for more: then the
        // next poll does not wait. (Waiting `pollTimeoutMs` between steps took 13 s to fire the
        // due timers of 128 partitions, one partition a step, after a run's last record. A step
        // out of tokens waits as before, so tokens gather into pages instead of a flush each.)
        var stepsBusy = false
        while !shouldStop() {
            reportTelemetry(force: false)
            try resumePartitionsPastDeletedRecords()
            try checkWrittenTopicConfigs()
            var clock = StageClock()
            let n = try consumer.poll(
                into: polled, maxMessages: sizer.limit, timeoutMs: stepsBusy ? 0 : config.pollTimeoutMs, gatherUntil: gatherDeadline)
            stepsBusy = false
            if let error = rebalanceError { throw error }
            if n > 0 { clock.lap("poll", into: &metrics) }
            try tracks.poll()
            try followRegistry()
            if n > 0 { health.contact() } else { probeKafka() }
            if !isBackfill { checkpoint.commitGroupOffsetsIfDue(metrics: &metrics) }
            if n == 0 && tracks.rejected.isEmpty {
                reportProgress(force: false)
                // Only due timers keep a run that stops when caught up going: the input is read to
                // its end, so they fire without the rate limit (which shares the CPU with live events).
                // The gate is asked once, before the input's end is: records produced after an open
                // gate's answer are the caller's to wait for, not those of a gate that opens later.
                var onlyTimersLeft = false
                let gateOpen = if case .whenCaughtUp(let gate) = condition { gate() } else { false }
                if gateOpen || onCaughtUp != nil, !batchJobsPending, try caughtUp() {
                    if try timersDue() {
                        onlyTimersLeft = true
                    } else {
                        if let onCaughtUp {
                            self.onCaughtUp = nil
                            onCaughtUp(startNextPhase())
                        }
                        if gateOpen { break }
                    }
                }
                if isBackfill, try caughtUp() { break }
                // Idle: deliver what steps after the last cycle left waiting, then step on.
                if checkpoint.deliveryPending { try checkpoint.flushOutputs() }
                try runBatchJobStep(deferred: false)
                let handled = try runTimerStep(deferred: false, unthrottled: onlyTimersLeft)
                stepsBusy = handled > 0 && (onlyTimersLeft || timerTokensLeft)
                continue
            }
            lastCycleStart = .now
            try runCycle(count: n)
            // Right after a cycle, the steps' outputs ride on the next cycle's flush.
            try runBatchJobStep(deferred: true)
            try runTimerStep(deferred: true)
            if case .afterRecords(let limit) = condition, metrics.recordsRead >= limit { break }
            reportProgress(force: false)
            if isBackfill, try caughtUp() { break }
        }
        if isBackfill && !shouldStop() {
            reportProgress(force: true)
            if let topic = config.seedChangelogTopic, let until = config.untilMs {
                try seedChangelog(topic: topic, handOffMs: until)
            } else if config.backfillPublishes {
                try publishBackfill()
            }
        }
    }

    var isBackfill: Bool { if case .backfill = mode { true } else { false } }

    /// Until when the next poll gathers records once one has come (`cycleLingerMs` after the last
    /// cycle began); nil for a backfill, whose cycles are as large as the backlog allows anyway.
    private var gatherDeadline: ContinuousClock.Instant? {
        guard config.cycleLingerMs > 0, !isBackfill, let lastCycleStart else { return nil }
        return lastCycleStart.advanced(by: .milliseconds(config.cycleLingerMs))
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

    /// Whether every assigned input partition has been read to its high watermark (for backfill:
    /// the watermark as of start-up). The watermark is the one the last fetch response reported,
    /// so the check costs no request: querying each partition queued every query behind the
    /// broker connection's long-poll fetch (up to `fetch.wait.max.ms`, 500 ms, each), which took
    /// 28 s to notice the end of 24 partitions. Only a partition no fetch has answered yet is
    /// queried. A worker of the registry has also read every registry change made so far.
    private func caughtUp() throws -> Bool {
        if isBackfill { return replayCaughtUp }
        let assigned = consumer.assignment
        guard !assigned.isEmpty else { return false }
        for tp in assigned {
            let high = try consumer.cachedHighWatermark(tp) ?? consumer.watermarks(tp).high
            if (nextOffsets[tp] ?? 0) < high { return false }
        }
        return try registryTopic?.isCaughtUp() ?? true
    }

    static func nowMs() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    /// Once per loop: liveness, readiness and the counters; once a second (or with `force`) the
    /// gauges: consumer lag per assigned partition (from the last fetch's high watermark), jobs owed.
    func reportTelemetry(force: Bool) {
        status.loop(ready: health.isReady)
        guard let telemetry else { return }
        syncOutsideCounters()
        telemetry.sync(metrics)
        guard force || Date().timeIntervalSince(lastTelemetryState) >= 1 else { return }
        lastTelemetryState = Date()
        var lag: [KafkaTopicPartition: Int64] = [:]
        for tp in consumer.assignment {
            guard let high = consumer.cachedHighWatermark(tp) else { continue }
            lag[tp] = max(0, high - (nextOffsets[tp] ?? 0))
        }
        telemetry.state(lag: lag, jobsPending: jobs.count, ready: health.isReady)
    }
}

/// A partition of one input lane, as a dictionary key of the cycle's next offsets.
struct LanePartition: Hashable {
    let lane: InputLane
    let partition: Int32
}
