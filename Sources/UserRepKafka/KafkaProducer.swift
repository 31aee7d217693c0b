// An idempotent, zstd-compressing Kafka producer with delivery-failure tracking.
import CRdKafka

/// Produces records; every delivery failure is counted and surfaced by `flush`, never dropped.
public final class KafkaProducer: @unchecked Sendable {
    // librdkafka's producer is thread safe; `DeliveryReports` guards the Swift-side counters.
    let client: RDKafkaClient
    private let reports: DeliveryReports

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
        config.setCallbackContext(reports)
        rd_kafka_conf_set_dr_msg_cb(config.pointer) { _, message, opaque in
            guard let opaque, let message else { return }
            let reports = Unmanaged<DeliveryReports>.fromOpaque(opaque).takeUnretainedValue()
            let m = message.pointee
            reports.record(m.err)
            if m.err == RD_KAFKA_RESP_ERR_NO_ERROR, m._private == KafkaProducer.trackedTag, let rkt = m.rkt {
                reports.delivered(DeliveryReports.Tracked(topic: rkt, partition: m.partition), offset: m.offset)
            }
        }
        rd_kafka_conf_set_error_cb(config.pointer) { _, _, reason, opaque in
            guard let opaque, let reason else { return }
            Unmanaged<DeliveryReports>.fromOpaque(opaque).takeUnretainedValue().clientError(String(cString: reason))
        }
        client = try RDKafkaClient(kind: .producer, config: config)
        if transactionalID != nil {
            if let error = rd_kafka_init_transactions(client.handle, initTimeoutMs) {
                throw KafkaError(consuming: error, context: "cannot initialize transactions")
            }
        }
    }

    /// Starts a transaction (transactional producers only).
    public func beginTransaction() throws {
        if let error = rd_kafka_begin_transaction(client.handle) { throw KafkaError(consuming: error, context: "cannot begin a transaction") }
    }

    /// Adds `consumer`'s group offsets (next offset per partition) to the current transaction:
    /// they commit exactly when the transaction's records do. A member that has lost its
    /// generation is refused here (zombie fencing).
    public func sendOffsets(_ offsets: [KafkaTopicPartition: Int64], of consumer: KafkaConsumer, timeoutMs: Int32) throws {
        guard !offsets.isEmpty else { return }
        let list = RDKafkaTopicPartitionList(offsets: offsets)
        guard let metadata = rd_kafka_consumer_group_metadata(consumer.client.handle) else {
            throw KafkaError("the consumer has no group metadata")
        }
        defer { rd_kafka_consumer_group_metadata_destroy(metadata) }
        if let error = rd_kafka_send_offsets_to_transaction(client.handle, list.pointer, metadata, timeoutMs) {
            throw KafkaError(consuming: error, context: "cannot add offsets to the transaction")
        }
    }

    /// Flushes and commits the current transaction.
    public func commitTransaction(timeoutMs: Int32) throws {
        if let error = rd_kafka_commit_transaction(client.handle, timeoutMs) {
            throw KafkaError(consuming: error, context: "cannot commit the transaction")
        }
        if let failure = reports.takeFailure() {
            throw KafkaError(code: failure.code, context: "\(failure.count) record(s) of a committed transaction were not delivered")
        }
    }

    /// Aborts the current transaction: its records are never visible to read-committed readers.
    /// Delivery reports of its purged records are served and forgotten.
    public func abortTransaction(timeoutMs: Int32) throws {
        if let error = rd_kafka_abort_transaction(client.handle, timeoutMs) {
            throw KafkaError(consuming: error, context: "cannot abort the transaction")
        }
        while client.poll(timeoutMs: 0) > 0 {}
        _ = reports.takeFailure()
        _ = reports.takeTracked()
    }

    /// Sets topic-level properties (e.g. `compression.codec`) for `topic`; call before the first
    /// record to it.
    public func configureTopic(_ topic: String, properties: [String: String]) throws {
        _ = try client.topic(topic, properties: properties)
    }

    /// Marks records whose delivered offsets are tracked (`takeDeliveredOffsets`).
    nonisolated(unsafe) static let trackedTag = UnsafeMutableRawPointer(bitPattern: 0x7472_6B64)

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
        try produce(to: openTopic(topic), partition: partition, key: key, value: value, headers: headers, timestampMs: timestampMs, trackOffset: trackOffset)
    }

    /// Queues one record to an opened topic; see `produce(topic:...)`.
    public func produce(
        to topic: KafkaOutputTopic, partition: Int32? = nil, key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer?,
        headers: [KafkaHeader] = [], timestampMs: Int64? = nil, trackOffset: Bool = false
    ) throws {
        precondition(topic.owner === client, "topic \(topic.name) was opened by another producer")
        let rkt = topic.handle
        while true {
            let error: OpaquePointer? = withUnsafeTemporaryAllocation(of: rd_kafka_vu_t.self, capacity: 8) { vus in
                var count = 0
                func add(_ type: rd_kafka_vtype_t, _ set: (inout rd_kafka_vu_t) -> Void) {
                    var vu = rd_kafka_vu_t()
                    vu.vtype = type
                    set(&vu)
                    vus.initializeElement(at: count, to: vu)
                    count += 1
                }
                add(RD_KAFKA_VTYPE_RKT) { $0.u.rkt = rkt }
                add(RD_KAFKA_VTYPE_PARTITION) { $0.u.i32 = partition ?? RD_KAFKA_PARTITION_UA }
                add(RD_KAFKA_VTYPE_MSGFLAGS) { $0.u.i = RD_KAFKA_MSG_F_COPY }
                add(RD_KAFKA_VTYPE_KEY) {
                    $0.u.mem.ptr = UnsafeMutableRawPointer(mutating: key?.baseAddress)
                    $0.u.mem.size = key?.count ?? 0
                }
                add(RD_KAFKA_VTYPE_VALUE) {
                    $0.u.mem.ptr = UnsafeMutableRawPointer(mutating: value?.baseAddress)
                    $0.u.mem.size = value?.count ?? 0
                }
                if let timestampMs { add(RD_KAFKA_VTYPE_TIMESTAMP) { $0.u.i64 = timestampMs } }
                if trackOffset { add(RD_KAFKA_VTYPE_OPAQUE) { $0.u.ptr = KafkaProducer.trackedTag } }
                var list: OpaquePointer?
                if !headers.isEmpty {
                    list = rd_kafka_headers_new(headers.count)
                    for h in headers {
                        _ = h.value.withUnsafeBytes { rd_kafka_header_add(list, h.name, -1, $0.baseAddress, $0.count) }
                    }
                    add(RD_KAFKA_VTYPE_HEADERS) { $0.u.headers = list }
                }
                let error = rd_kafka_produceva(client.handle, vus.baseAddress, count)
                // On failure the headers were not taken over by librdkafka.
                if error != nil, let list { rd_kafka_headers_destroy(list) }
                return error
            }
            guard let error else { return }
            if rd_kafka_error_code(error) == RD_KAFKA_RESP_ERR__QUEUE_FULL {
                rd_kafka_error_destroy(error)
                client.poll(timeoutMs: 10)
                continue
            }
            throw KafkaError(consuming: error, context: "cannot produce to \(topic.name)")
        }
    }

    /// Queues one record from byte arrays.
    public func produce(topic: String, partition: Int32? = nil, key: [UInt8]?, value: [UInt8]?, headers: [KafkaHeader] = [], timestampMs: Int64? = nil) throws {
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
        _ = rd_kafka_purge(client.handle, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT)
        while client.poll(timeoutMs: 0) > 0 {}
        _ = reports.takeFailure()
        _ = reports.takeTracked()
    }

    /// Serves delivery reports for up to `timeoutMs`.
    public func poll(timeoutMs: Int32 = 0) { client.poll(timeoutMs: timeoutMs) }

    /// Waits until every queued record is delivered; throws if any record failed since the last
    /// flush or the wait timed out, so the caller never commits input whose output was lost.
    public func flush(timeoutMs: Int32) throws {
        let err = rd_kafka_flush(client.handle, timeoutMs)
        if let failure = reports.takeFailure() {
            throw KafkaError(code: failure.code, context: "\(failure.count) record(s) were not delivered")
        }
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError(code: err, context: "producer flush did not complete within \(timeoutMs) ms (\(rd_kafka_outq_len(client.handle)) records pending)")
        }
    }

    /// For each partition written with `trackOffset` since the last call: the offset after the
    /// newest such record delivered. Call after a successful `flush`.
    public func takeDeliveredOffsets() -> [KafkaTopicPartition: Int64] { reports.takeTracked() }

    /// librdkafka's most recent client-level error (e.g. `Failed to resolve 'kafka:9092'`), if any.
    public var lastClientError: String? { reports.lastClientError }

    /// Records delivered successfully since the producer started.
    public var deliveredCount: Int { reports.delivered }

    /// Low and high watermarks of a partition.
    public func watermarks(_ tp: KafkaTopicPartition, timeoutMs: Int32 = 10_000) throws -> KafkaWatermarks {
        try client.watermarks(tp, timeoutMs: timeoutMs)
    }

    /// Throws unless a broker answers a metadata request within `timeoutMs`.
    public func ping(timeoutMs: Int32) throws { try client.ping(timeoutMs: timeoutMs) }

    /// Number of partitions of a topic, nil if it does not exist.
    public func partitionCount(topic: String, timeoutMs: Int32 = 10_000) throws -> Int? {
        try client.partitionCount(topic: topic, timeoutMs: timeoutMs)
    }

    deinit {
        rd_kafka_flush(client.handle, 5_000)
    }
}

/// Counts delivery outcomes reported by librdkafka's callback thread.
final class DeliveryReports: @unchecked Sendable {
    private let lock = Mutex()
    private var failures = 0
    private var firstFailure = RD_KAFKA_RESP_ERR_NO_ERROR
    private var delivered_ = 0
    private var tracked: [Tracked: Int64] = [:]
    private var lastClientError_: String?

    func clientError(_ text: String) { lock.withLock { lastClientError_ = text } }
    var lastClientError: String? { lock.withLock { lastClientError_ } }

    /// A partition of a topic handle. Handles live as long as their client, so the callback
    /// keys by handle and names the topic only when the offsets are taken.
    struct Tracked: Hashable, @unchecked Sendable {
        let topic: OpaquePointer
        let partition: Int32
    }

    func delivered(_ tp: Tracked, offset: Int64) {
        lock.withLock { tracked[tp] = max(tracked[tp] ?? 0, offset + 1) }
    }

    func takeTracked() -> [KafkaTopicPartition: Int64] {
        let taken = lock.withLock {
            defer { tracked.removeAll(keepingCapacity: true) }
            return tracked
        }
        var result: [KafkaTopicPartition: Int64] = [:]
        for (tp, next) in taken {
            let key = KafkaTopicPartition(topic: String(cString: rd_kafka_topic_name(tp.topic)), partition: tp.partition)
            result[key] = max(result[key] ?? 0, next)
        }
        return result
    }

    func record(_ err: rd_kafka_resp_err_t) {
        lock.withLock {
            if err == RD_KAFKA_RESP_ERR_NO_ERROR {
                delivered_ += 1
            } else {
                if failures == 0 { firstFailure = err }
                failures += 1
            }
        }
    }

    var delivered: Int { lock.withLock { delivered_ } }

    func takeFailure() -> (code: rd_kafka_resp_err_t, count: Int)? {
        lock.withLock {
            guard failures > 0 else { return nil }
            defer { failures = 0 }
            return (firstFailure, failures)
        }
    }
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
