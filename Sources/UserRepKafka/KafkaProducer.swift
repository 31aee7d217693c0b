// An idempotent, zstd-compressing Kafka producer with delivery-failure tracking.

/// Produces records; every delivery failure is counted and surfaced by `flush`, never dropped.
public final class KafkaProducer: @unchecked Sendable {
    // librdkafka's producer is thread safe; `DeliveryReports` guards the Swift-side counters.
    let client: RDKafkaClient
    private let reports: DeliveryReports
    /// `sendOffsets`' call to librdkafka, bounded by its timeout.
    private let offsetSends = BoundedCall<[KafkaTopicPartition: Int64]>()

    /// Defaults applied under any user-supplied properties.
    public static let defaults: [String: String] = [
        "enable.idempotence": "true",
        "compression.type": "zstd",
        // Level 1 rather than zstd's default 3: records are mostly float bits, and level 3 cost
        // the benchmark's client threads ~0.8 s more CPU per 500k listens (3.5 → 2.7 s).
        "compression.level": "1",
        "linger.ms": "5",
        "batch.num.messages": "10000",
        "queue.buffering.max.messages": "500000",
        "queue.buffering.max.kbytes": "1048576",
    ].merging(KafkaConfiguration.clientDefaults) { own, _ in own }

    /// Creates a producer; `configuration` must name `bootstrap.servers`. With `transactionalID`
    /// the producer is transactional: it registers the id (fencing any older producer with it and
    /// aborting that one's open transaction) and every record must be sent inside a transaction.
    public init(configuration: KafkaConfiguration, transactionalID: String? = nil, initTimeoutMs: Int32 = 60_000) throws {
        var props = configuration.forProducer.withDefaults(Self.defaults)
        if let transactionalID { props["transactional.id"] = transactionalID }
        let config = try RDKafkaConfig(props)
        reports = DeliveryReports()
        reports.install(on: config)
        client = try RDKafkaClient(kind: .producer, config: config)
        if transactionalID != nil { try client.initTransactions(timeoutMs: initTimeoutMs) }
    }

    /// Starts a transaction (transactional producers only).
    public func beginTransaction() throws {
        try client.beginTransaction()
    }

    /// Adds `consumer`'s group offsets (next offset per partition) to the current transaction:
    /// they commit exactly when the transaction's records do. A member that has lost its
    /// generation is refused here (zombie fencing). Returns or throws within `timeoutMs` even
    /// while librdkafka's call blocks past it (then a retriable timeout; calling again with the
    /// same offsets joins the call in flight).
    public func sendOffsets(_ offsets: [KafkaTopicPartition: Int64], of consumer: KafkaConsumer, timeoutMs: Int32) throws {
        guard !offsets.isEmpty else { return }
        guard let metadata = GroupMetadata(of: consumer.client) else { throw KafkaError("the consumer has no group metadata") }
        try offsetSends.call(offsets, timeoutMs: timeoutMs) { [client] in
            client.sendOffsetsToTransaction(offsets, as: metadata, timeoutMs: timeoutMs)
        }
    }

    /// Flushes and commits the current transaction.
    public func commitTransaction(timeoutMs: Int32) throws {
        try client.commitTransaction(timeoutMs: timeoutMs)
        if let failure = reports.takeFailure("of a committed transaction were not delivered") { throw failure }
    }

    /// Aborts the current transaction: its records are never visible to read-committed readers.
    /// Delivery reports of its purged records are served and forgotten.
    public func abortTransaction(timeoutMs: Int32) throws {
        try client.abortTransaction(timeoutMs: timeoutMs)
        while client.poll(timeoutMs: 0) > 0 {}
        reports.forgetFailures()
        _ = reports.takeTracked()
    }

    /// Sets topic-level properties (e.g. `compression.codec`) for `topic`; call before the first
    /// record to it.
    public func configureTopic(_ topic: String, properties: [String: String]) throws {
        _ = try client.topic(topic, properties: properties)
    }

    /// Opens `name` for producing many records: `produce(to:...)` then skips the per-record
    /// lookup by name. The handle is valid as long as this producer.
    public func openTopic(_ name: String) throws -> KafkaOutputTopic {
        KafkaOutputTopic(name: name, handle: try client.topic(name), owner: client)
    }

    /// Queues one record. Blocks (serving delivery reports) while librdkafka's queue is full.
    /// `partition` nil lets librdkafka's partitioner choose from the key. With `trackOffset`,
    /// the record's delivered offset is remembered for `takeDeliveredOffsets`.
    public func produce(
        topic: String, partition: Int32? = nil, key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer?,
        headers: [KafkaHeader] = [], timestampMs: Int64? = nil, trackOffset: Bool = false
    ) throws {
        try produce(
            to: openTopic(topic), partition: partition, key: key, value: value, headers: headers, timestampMs: timestampMs,
            trackOffset: trackOffset)
    }

    /// Queues one record to an opened topic; see `produce(topic:...)`. With `valueOwner` (the
    /// object that owns the memory `value` points into, and never writes it again) the value is
    /// not copied: librdkafka reads it in place, and the producer keeps `valueOwner` alive until
    /// every in-place record has its delivery report (delivered, failed or purged; served by a
    /// flush, a poll, a transaction's end or a purge), or until the producer is destroyed.
    public func produce(
        to topic: KafkaOutputTopic, partition: Int32? = nil, key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer?,
        headers: [KafkaHeader] = [], timestampMs: Int64? = nil, trackOffset: Bool = false, valueOwner: (AnyObject & Sendable)? = nil
    ) throws {
        precondition(topic.owner === client, "topic \(topic.name) was opened by another producer")
        let record = RDKafkaOutgoingRecord(
            topic: topic.handle, partition: partition, key: key, value: value, headers: headers, timestampMs: timestampMs,
            opaque: DeliveryReports.tag(tracked: trackOffset, inPlace: valueOwner != nil), copyValue: valueOwner == nil)
        while true {
            // Pinned before it is queued: its delivery report may be served at once on another thread.
            if let valueOwner { reports.pin(valueOwner) }
            let result = client.produce(record)
            if case .queued = result { return }
            if valueOwner != nil { reports.unpin() }
            if case .failed(let error) = result { throw error.prefixed("cannot produce to \(topic.name)") }
            // The queue is full: serve delivery reports, then try again.
            client.poll(timeoutMs: 10)
        }
    }

    /// Queues one record from byte arrays.
    public func produce(
        topic: String, partition: Int32? = nil, key: [UInt8]?, value: [UInt8]?, headers: [KafkaHeader] = [], timestampMs: Int64? = nil
    ) throws {
        try withOptionalBytes(key) { k in
            try withOptionalBytes(value) { v in
                try produce(topic: topic, partition: partition, key: k, value: v, headers: headers, timestampMs: timestampMs)
            }
        }
    }

    /// Queues one record from byte arrays to an opened topic.
    public func produce(to topic: KafkaOutputTopic, key: [UInt8]?, value: [UInt8]?, headers: [KafkaHeader] = []) throws {
        try withOptionalBytes(key) { k in
            try withOptionalBytes(value) { v in
                try produce(to: topic, key: k, value: v, headers: headers)
            }
        }
    }

    /// Drops every queued and in-flight record (their delivery reports say purged), for a stop
    /// that abandons unconfirmed work; failures it causes are forgotten.
    public func purge() {
        client.purgeQueuedAndInFlight()
        while client.poll(timeoutMs: 0) > 0 {}
        reports.forgetFailures()
        _ = reports.takeTracked()
    }

    /// Serves delivery reports for up to `timeoutMs`.
    public func poll(timeoutMs: Int32 = 0) { client.poll(timeoutMs: timeoutMs) }

    /// Waits until every queued record is delivered; throws if any record failed since the last
    /// flush or the wait timed out, so the caller never commits input whose output was lost.
    public func flush(timeoutMs: Int32) throws {
        let flushed = client.flush(timeoutMs: timeoutMs)
        if let failure = reports.takeFailure("were not delivered") { throw failure }
        if let pending = flushed {
            throw KafkaError(timedOut: "producer flush did not complete within \(timeoutMs) ms (\(pending) records pending)")
        }
    }

    /// For each partition written with `trackOffset` since the last call: the offset after the
    /// newest such record delivered. Call after a successful `flush`.
    public func takeDeliveredOffsets() -> [KafkaTopicPartition: Int64] { reports.takeTracked() }

    /// librdkafka's most recent client-level error (e.g. `Failed to resolve 'kafka:9092'`), if any.
    public var lastClientError: String? { reports.lastClientError }

    /// Owners of in-place values (`produce(..., valueOwner:)`) the producer still keeps alive.
    public var pinnedValueOwners: Int { reports.pinnedCount }

    /// Records delivered successfully since the producer started.
    public var deliveredCount: Int { reports.delivered }

    /// Low and high watermarks of a partition.
    public func watermarks(_ tp: KafkaTopicPartition, timeoutMs: Int32 = 10_000) throws -> KafkaWatermarks {
        try client.watermarks(tp, timeoutMs: timeoutMs)
    }

    /// Throws unless a broker answers a metadata request within `timeoutMs`.
    public func ping(timeoutMs: Int32) throws { try client.ping(timeoutMs: timeoutMs) }

    /// Asks the brokers for `topics`' configs (`cleanup.policy`, `max.message.bytes`, …) in one
    /// request; the answer is polled from the returned request, without blocking.
    public func describeConfigs(of topics: [String]) throws -> KafkaTopicConfigRequest {
        try KafkaTopicConfigRequest(client: client, topics: topics)
    }

    /// Number of partitions of a topic, nil if it does not exist.
    public func partitionCount(topic: String, timeoutMs: Int32 = 10_000) throws -> Int? {
        try client.partitionCount(topic: topic, timeoutMs: timeoutMs)
    }

    deinit { _ = client.flush(timeoutMs: 5_000) }
}

func withOptionalBytes<R>(_ bytes: [UInt8]?, _ body: (UnsafeRawBufferPointer?) throws -> R) rethrows -> R {
    guard let bytes else { return try body(nil) }
    return try bytes.withUnsafeBytes { try body($0) }
}

/// A topic opened by `KafkaProducer.openTopic`, for producing without a lookup by name.
public struct KafkaOutputTopic: @unchecked Sendable {
    // The handle is owned by `owner` (which caches it for its lifetime) and thread safe.
    /// Topic name.
    public let name: String
    let handle: OpaquePointer
    let owner: RDKafkaClient
}
