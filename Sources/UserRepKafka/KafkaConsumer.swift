// A consumer-group member (or manually assigned reader) with manual offset control.
import CRdKafka
import Dispatch

/// Reads records in batches. Offsets are never committed automatically: the owner decides when
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
        "queued.max.messages.kbytes": "262144",
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
        config.setCallbackContext(context)
        rd_kafka_conf_set_rebalance_cb(config.pointer) { rk, err, partitions, opaque in
            guard let rk, let partitions, let opaque else { return }
            let context = Unmanaged<ConsumerContext>.fromOpaque(opaque).takeUnretainedValue()
            context.rebalance(rk, err, RDKafkaTopicPartitionList(borrowing: partitions))
        }
        client = try RDKafkaClient(kind: .consumer, config: config)
        rd_kafka_poll_set_consumer(client.handle)
    }

    /// Sets (or replaces) the handler told about assignments; held weakly.
    public func setRebalanceHandler(_ handler: KafkaRebalanceHandler) { context.handler = handler }

    /// Joins the group and subscribes to `topics`.
    public func subscribe(_ topics: [String]) throws {
        let list = RDKafkaTopicPartitionList(capacity: topics.count)
        for t in topics { list.add(KafkaTopicPartition(topic: t, partition: RD_KAFKA_PARTITION_UA)) }
        let err = rd_kafka_subscribe(client.handle, list.pointer)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError(code: err, context: "cannot subscribe to \(topics.joined(separator: ", "))")
        }
    }

    /// Reads exactly `partitions` from the given offsets, outside any group rebalancing.
    public func assign(_ partitions: [KafkaTopicPartition: KafkaOffset]) throws {
        let list = RDKafkaTopicPartitionList(capacity: partitions.count)
        for (tp, offset) in partitions.sorted(by: { ($0.key.topic, $0.key.partition) < ($1.key.topic, $1.key.partition) }) {
            list.add(tp, offset: offset)
        }
        let err = rd_kafka_assign(client.handle, list.pointer)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(code: err, context: "cannot assign partitions") }
        context.assigned = Set(partitions.keys)
        context.atEnd.removeAll()
    }

    /// Partitions currently assigned to this consumer.
    public var assignment: Set<KafkaTopicPartition> { context.assigned }

    /// Partitions that reported end-of-partition since they were (re)assigned and received no
    /// record since.
    public var partitionsAtEnd: Set<KafkaTopicPartition> { context.atEnd }

    /// Polls up to `maxMessages` records into `batch` (after resetting it), waiting up to
    /// `timeoutMs` for the first. Serves rebalance callbacks. Throws only on fatal errors;
    /// transient ones are reported through `lastTransientError`.
    @discardableResult
    public func poll(into batch: KafkaMessageBatch, maxMessages: Int, timeoutMs: Int32) throws -> Int {
        batch.reset()
        batch.owner = client
        let generation = context.generation
        var timeout = timeoutMs
        while batch.count < maxMessages {
            guard let m = rd_kafka_consumer_poll(client.handle, timeout) else { break }
            timeout = 0
            let err = m.pointee.err
            if err == RD_KAFKA_RESP_ERR_NO_ERROR {
                if trackPartitionEnd && !context.atEnd.isEmpty {
                    context.atEnd.remove(KafkaTopicPartition(topic: KafkaMessage(pointer: m, topicIndex: -1).topic, partition: m.pointee.partition))
                }
                batch.append(m)
                continue
            }
            defer { rd_kafka_message_destroy(m) }
            if err == RD_KAFKA_RESP_ERR__PARTITION_EOF {
                context.atEnd.insert(KafkaTopicPartition(topic: KafkaMessage(pointer: m, topicIndex: -1).topic, partition: m.pointee.partition))
                continue
            }
            let detail = m.pointee.payload.map { String(cString: $0.assumingMemoryBound(to: CChar.self)) } ?? ""
            let error = KafkaError(code: err, context: "consumer error\(detail.isEmpty ? "" : ": \(detail)")")
            if rd_kafka_fatal_error(client.handle, nil, 0) != RD_KAFKA_RESP_ERR_NO_ERROR { throw error }
            lastTransientError = error
        }
        if context.generation != generation {
            // A rebalance happened mid-batch: drop records of partitions we no longer own; their
            // new owner reads them from the last committed position.
            batch.removeAll { !context.assigned.contains(KafkaTopicPartition(topic: $0.topic, partition: $0.partition)) }
        }
        return batch.count
    }

    /// The most recent non-fatal consumer error, for health reporting.
    public private(set) var lastTransientError: KafkaError?

    /// Commits `offsets` (the next offset to read, per partition) to the group and waits at most
    /// `timeoutMs` for the coordinator's answer; throws unless every partition was committed.
    /// Serves no other callbacks, so it is safe inside a rebalance callback.
    public func commit(_ offsets: [KafkaTopicPartition: Int64], timeoutMs: Int32) throws {
        guard !offsets.isEmpty else { return }
        let list = RDKafkaTopicPartitionList(offsets: offsets)
        guard let queue = rd_kafka_queue_new(client.handle) else { throw KafkaError("cannot create a queue for the offset commit") }
        defer { rd_kafka_queue_destroy(queue) }
        let err = rd_kafka_commit_queue(client.handle, list.pointer, queue, nil, nil)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(code: err, context: "offset commit failed") }
        guard let event = rd_kafka_queue_poll(queue, timeoutMs) else {
            throw KafkaError(code: RD_KAFKA_RESP_ERR__TIMED_OUT, context: "offset commit not confirmed within \(timeoutMs) ms")
        }
        defer { rd_kafka_event_destroy(event) }
        let result = rd_kafka_event_error(event)
        guard result == RD_KAFKA_RESP_ERR_NO_ERROR || result == RD_KAFKA_RESP_ERR__NO_OFFSET else {
            throw KafkaError(code: result, context: "offset commit failed")
        }
        if let partitions = rd_kafka_event_topic_partition_list(event) {
            for (tp, _, e) in RDKafkaTopicPartitionList(borrowing: partitions).elements where e != RD_KAFKA_RESP_ERR_NO_ERROR {
                throw KafkaError(code: e, context: "offset commit of \(tp) failed")
            }
        }
    }

    /// Commits `offsets` (the next offset to read, per partition) to the group.
    public func commit(_ offsets: [KafkaTopicPartition: Int64], async: Bool = true) throws {
        guard !offsets.isEmpty else { return }
        let list = RDKafkaTopicPartitionList(offsets: offsets)
        let err = rd_kafka_commit(client.handle, list.pointer, async ? 1 : 0)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR__NO_OFFSET else {
            throw KafkaError(code: err, context: "offset commit failed")
        }
    }

    /// The group's committed next offset of each of `partitions` that has one. Waits for
    /// transactional commits still pending (KIP-447), up to `timeoutMs`.
    public func committed(_ partitions: [KafkaTopicPartition], timeoutMs: Int32 = 10_000) throws -> [KafkaTopicPartition: Int64] {
        guard !partitions.isEmpty else { return [:] }
        let list = RDKafkaTopicPartitionList(capacity: partitions.count)
        for tp in partitions { list.add(tp) }
        let err = rd_kafka_committed(client.handle, list.pointer, timeoutMs)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(code: err, context: "cannot read the group's committed offsets") }
        var result: [KafkaTopicPartition: Int64] = [:]
        for (tp, offset, error) in list.elements {
            guard error == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(code: error, context: "cannot read the committed offset of \(tp)") }
            if offset >= 0 { result[tp] = offset }
        }
        return result
    }

    /// Moves the fetch position of assigned partitions (e.g. back to the last committed work).
    public func seek(_ offsets: [KafkaTopicPartition: Int64], timeoutMs: Int32 = 10_000) throws {
        guard !offsets.isEmpty else { return }
        let list = RDKafkaTopicPartitionList(offsets: offsets)
        if let error = rd_kafka_seek_partitions(client.handle, list.pointer, timeoutMs) {
            throw KafkaError(consuming: error, context: "cannot seek")
        }
        for (tp, _, err) in list.elements where err != RD_KAFKA_RESP_ERR_NO_ERROR {
            throw KafkaError(code: err, context: "cannot seek \(tp)")
        }
    }

    /// Whether librdkafka considers the current assignment lost (session timed out, poll interval
    /// exceeded): the partitions may already belong to another member, so nothing may be
    /// produced or committed for them until the rebalance callback has run.
    public var assignmentLost: Bool { rd_kafka_assignment_lost(client.handle) != 0 }

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
        guard let queue = rd_kafka_queue_new(client.handle) else {
            client.skipConsumerClose = true
            return false
        }
        defer { rd_kafka_queue_destroy(queue) }
        if let error = rd_kafka_consumer_close_queue(client.handle, queue) {
            rd_kafka_error_destroy(error)
            client.skipConsumerClose = true
            return false
        }
        let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(max(0, timeoutMs)) * 1_000_000
        while rd_kafka_consumer_closed(client.handle) == 0 {
            guard DispatchTime.now().uptimeNanoseconds < deadline else {
                client.skipConsumerClose = true
                return false
            }
            // Served as events, not callbacks: a callback-served close queue aborts librdkafka
            // on the ops it cannot hand to a callback (fetched messages).
            guard let event = rd_kafka_queue_poll(queue, 50) else { continue }
            if rd_kafka_event_type(event) == RD_KAFKA_EVENT_REBALANCE, let list = rd_kafka_event_topic_partition_list(event) {
                context.rebalance(client.handle, rd_kafka_event_error(event), RDKafkaTopicPartitionList(borrowing: list))
            }
            rd_kafka_event_destroy(event)
        }
        return true
    }

    deinit { close() }
}

/// State shared with librdkafka's rebalance callback (always invoked on the polling thread).
final class ConsumerContext {
    weak var handler: KafkaRebalanceHandler?
    var assigned: Set<KafkaTopicPartition> = []
    var atEnd: Set<KafkaTopicPartition> = []
    var closed = false
    var generation = 0

    init(handler: KafkaRebalanceHandler?) { self.handler = handler }

    func rebalance(_ rk: OpaquePointer, _ err: rd_kafka_resp_err_t, _ list: RDKafkaTopicPartitionList) {
        let partitions = list.elements.map(\.0)
        generation += 1
        let cooperative = String(cString: rd_kafka_rebalance_protocol(rk)) == "COOPERATIVE"
        switch err {
        case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
            let starts = handler?.partitionsAssigned(partitions) ?? [:]
            for tp in partitions { list.setOffset(tp, starts[tp] ?? .committed) }
            if cooperative {
                if let e = rd_kafka_incremental_assign(rk, list.pointer) { rd_kafka_error_destroy(e) }
            } else {
                rd_kafka_assign(rk, list.pointer)
            }
            assigned.formUnion(partitions)
            for tp in partitions { atEnd.remove(tp) }
        default:
            handler?.partitionsRevoked(partitions)
            if cooperative {
                if let e = rd_kafka_incremental_unassign(rk, list.pointer) { rd_kafka_error_destroy(e) }
            } else {
                rd_kafka_assign(rk, nil)
            }
            assigned.subtract(partitions)
            for tp in partitions { atEnd.remove(tp) }
        }
    }
}
