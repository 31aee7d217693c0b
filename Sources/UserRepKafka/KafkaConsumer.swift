// A consumer-group member (or manually assigned reader) with manual offset control.

/// Reads records a poll at a time. Offsets are never committed automatically: the owner decides when
/// its work is durable and calls `commit`. Poll from one thread at a time.
public final class KafkaConsumer: @unchecked Sendable {
    // Swift-side state is touched only by the polling thread; librdkafka's calls are thread safe.
    let client: RDKafkaClient
    private let context: ConsumerContext

    /// Defaults applied under any user-supplied properties.
    public static let defaults: [String: String] = [
        "enable.auto.commit": "false",
        "enable.auto.offset.store": "false",
        "auto.offset.reset": "earliest",
        "fetch.max.bytes": "52428800",
        // Prefetched records held before a poll takes them: 64 MiB is three 100k-listen cycles of
        // JSON listens. With 256 MiB (before 2026-12-07) a worker catching up on the 2M-listen
        // backlog peaked higher: 951–977 against 821–959 MiB (3 interleaved pairs and one more
        // run), at the same CPU.
        "queued.max.messages.kbytes": "65536",
    ].merging(KafkaConfiguration.clientDefaults) { own, _ in own }

    /// Whether end-of-partition events are tracked (`partitionsAtEnd`).
    public let trackPartitionEnd: Bool

    /// Creates a consumer; pass `rebalance` to choose start offsets when partitions are assigned,
    /// and `trackPartitionEnd` to learn when every assigned partition has been read to its end.
    public init(configuration: KafkaConfiguration, rebalance: KafkaRebalanceHandler? = nil, trackPartitionEnd: Bool = false) throws {
        self.trackPartitionEnd = trackPartitionEnd
        var props = configuration.forConsumer.withDefaults(Self.defaults)
        props["enable.partition.eof"] = trackPartitionEnd ? "true" : "false"
        if props["group.id"] == nil { props["group.id"] = "userrep-reader" }
        let config = try RDKafkaConfig(props)
        context = ConsumerContext(handler: rebalance)
        context.install(on: config)
        client = try RDKafkaClient(kind: .consumer, config: config)
        client.redirectPollToConsumer()
    }

    /// Sets (or replaces) the handler told about assignments; held weakly.
    public func setRebalanceHandler(_ handler: KafkaRebalanceHandler) { context.handler = handler }

    /// Joins the group and subscribes to `topics`.
    public func subscribe(_ topics: [String]) throws { try client.subscribe(topics) }

    /// Reads exactly `partitions` from the given offsets, outside any group rebalancing.
    public func assign(_ partitions: [KafkaTopicPartition: KafkaOffset]) throws {
        try client.assign(partitions)
        context.assigned = Set(partitions.keys)
        context.atEnd.removeAll()
    }

    /// Fetches the assigned partitions again from `positions` (every assigned partition must have
    /// one), keeping the assignment: the way back for a partition whose position was out of range,
    /// which librdkafka refuses to seek. Records queued but not polled are dropped and fetched
    /// again from the given positions. Eager rebalance protocol only (librdkafka refuses a whole
    /// assignment under the cooperative one).
    public func refetch(from positions: [KafkaTopicPartition: KafkaOffset]) throws {
        guard Set(positions.keys) == context.assigned else {
            throw KafkaError("refetch needs a position for exactly the assigned partitions")
        }
        try client.assign(positions)
        context.atEnd.removeAll()
    }

    /// Partitions currently assigned to this consumer.
    public var assignment: Set<KafkaTopicPartition> { context.assigned }

    /// Partitions that reported end-of-partition since they were (re)assigned and received no
    /// record since.
    public var partitionsAtEnd: Set<KafkaTopicPartition> { context.atEnd }

    /// Whether the last `poll` took everything queued (it stopped short of its record limit; true
    /// before the first). An end found at a high watermark holds only then: on a broker whose
    /// watermark lags its log (Tansu: the last record batch's base offset plus one), the rest of
    /// that batch, which came in the same fetch response, may still be queued past it.
    public private(set) var lastPollTookAllQueued = true

    /// Polls up to `maxMessages` records into `records` (after resetting it), waiting up to
    /// `timeoutMs` for the first. Once one has come, it waits on for more until `gatherUntil` (if
    /// that is later), then takes only what is already queued. Serves rebalance callbacks. Throws
    /// only on fatal errors; transient ones are reported through `lastTransientError`.
    @discardableResult
    public func poll(
        into records: KafkaPolledRecords, maxMessages: Int, timeoutMs: Int32, gatherUntil: ContinuousClock.Instant? = nil
    ) throws -> Int {
        records.reset()
        records.owner = client
        let generation = context.generation
        var timeout = timeoutMs
        while records.count < maxMessages {
            let wantTopic = trackPartitionEnd && !context.atEnd.isEmpty
            guard let polled = client.consumerPoll(timeoutMs: timeout, wantTopic: wantTopic) else { break }
            timeout = gatherUntil.map { Self.millisecondsLeft(until: $0) } ?? 0
            switch polled {
            case .record(let m, let tp):
                if let tp { context.atEnd.remove(tp) }
                records.append(m)
            case .partitionEnd(let tp):
                context.atEnd.insert(tp)
            case .offsetOutOfRange(let tp, let offset):
                offsetsOutOfRange[tp] = offset
            case .error(let error, let fatal):
                if fatal { throw error }
                lastTransientError = error
            }
        }
        lastPollTookAllQueued = records.count < maxMessages
        if context.generation != generation {
            // A rebalance happened mid-poll: drop records of partitions we no longer own; their
            // new owner reads them from the last committed position.
            records.removeAll { !context.assigned.contains(KafkaTopicPartition(topic: $0.topic, partition: $0.partition)) }
        }
        return records.count
    }

    /// Whole milliseconds from now until `deadline`, rounded up; 0 once it has passed.
    static func millisecondsLeft(until deadline: ContinuousClock.Instant) -> Int32 {
        let left = ContinuousClock.now.duration(to: deadline)
        guard left > .zero else { return 0 }
        return Int32(clamping: Int64((left / .milliseconds(1)).rounded(.up)))
    }

    /// Fetch positions the brokers no longer hold, by partition, reported by polls since the last
    /// `takeOffsetsOutOfRange` (only with `auto.offset.reset=error`; librdkafka otherwise moves
    /// the position itself, silently). Such a partition is not fetched until a seek.
    public private(set) var offsetsOutOfRange: [KafkaTopicPartition: Int64] = [:]

    /// Returns and forgets `offsetsOutOfRange`.
    public func takeOffsetsOutOfRange() -> [KafkaTopicPartition: Int64] {
        defer { offsetsOutOfRange = [:] }
        return offsetsOutOfRange
    }

    /// The most recent non-fatal consumer error, for health reporting.
    public private(set) var lastTransientError: KafkaError?

    /// Commits `offsets` (the next offset to read, per partition) to the group and waits at most
    /// `timeoutMs` for the coordinator's answer; throws unless every partition was committed.
    /// Serves no other callbacks, so it is safe inside a rebalance callback.
    public func commit(_ offsets: [KafkaTopicPartition: Int64], timeoutMs: Int32) throws {
        guard !offsets.isEmpty else { return }
        try client.commitAndWait(offsets, timeoutMs: timeoutMs)
    }

    /// Commits `offsets` (the next offset to read, per partition) to the group.
    public func commit(_ offsets: [KafkaTopicPartition: Int64], async: Bool = true) throws {
        guard !offsets.isEmpty else { return }
        try client.commit(offsets, async: async)
    }

    /// The group's committed next offset of each of `partitions` that has one. Waits for
    /// transactional commits still pending (KIP-447), up to `timeoutMs`.
    public func committed(_ partitions: [KafkaTopicPartition], timeoutMs: Int32 = 10_000) throws -> [KafkaTopicPartition: Int64] {
        guard !partitions.isEmpty else { return [:] }
        return try client.committed(partitions, timeoutMs: timeoutMs)
    }

    /// Moves the fetch position of assigned partitions (e.g. back to the last committed work).
    public func seek(_ offsets: [KafkaTopicPartition: Int64], timeoutMs: Int32 = 10_000) throws {
        guard !offsets.isEmpty else { return }
        try client.seek(offsets, timeoutMs: timeoutMs)
    }

    /// Whether librdkafka considers the current assignment lost (session timed out, poll interval
    /// exceeded): the partitions may already belong to another member, so nothing may be
    /// produced or committed for them until the rebalance callback has run.
    public var assignmentLost: Bool { client.assignmentLost }

    /// The high watermark of a partition as the last fetch response for it reported (no
    /// request; nil before the first). A synchronous `watermarks` query waits behind the
    /// broker connection's long-poll fetch, up to `fetch.wait.max.ms` per partition.
    public func cachedHighWatermark(_ tp: KafkaTopicPartition) -> Int64? { client.cachedWatermarks(tp)?.high }

    /// Low and high watermarks of a partition.
    public func watermarks(_ tp: KafkaTopicPartition, timeoutMs: Int32 = 10_000) throws -> KafkaWatermarks {
        try client.watermarks(tp, timeoutMs: timeoutMs)
    }

    /// Number of partitions of a topic, nil if it does not exist.
    public func partitionCount(topic: String, timeoutMs: Int32 = 10_000) throws -> Int? {
        try client.partitionCount(topic: topic, timeoutMs: timeoutMs)
    }

    /// Leaves the group cleanly (revoking partitions through the handler first), waiting at most
    /// `timeoutMs`; returns false when that did not finish in time (Kafka unreachable), in which
    /// case the client is destroyed without waiting for the group.
    @discardableResult
    public func close(timeoutMs: Int32 = 10_000) -> Bool {
        guard !context.closed else { return true }
        context.closed = true
        return client.closeConsumer(timeoutMs: timeoutMs, context: context)
    }

    deinit { close() }
}
