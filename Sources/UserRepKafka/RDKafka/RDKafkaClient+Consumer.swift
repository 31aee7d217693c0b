// librdkafka's consumer calls: group membership, polling, offsets, seeking and closing.
import CRdKafka
import Dispatch

/// What one `rd_kafka_consumer_poll` returned.
enum RDKafkaPolled {
    /// A record, owned by the caller from now on (freed by `KafkaPolledRecords`).
    case record(UnsafeMutablePointer<rd_kafka_message_t>, KafkaTopicPartition?)
    /// The partition was read to its end.
    case partitionEnd(KafkaTopicPartition)
    /// The brokers no longer hold the partition's fetch position (with `auto.offset.reset=error`):
    /// its records there were deleted, or it was truncated. It is fetched again after a seek.
    case offsetOutOfRange(KafkaTopicPartition, Int64)
    /// A consumer error; `fatal` when the client is unusable from now on.
    case error(KafkaError, fatal: Bool)
}

extension RDKafkaClient {
    /// Routes the main queue's events to `consumerPoll`, so one poll serves everything.
    func redirectPollToConsumer() { rd_kafka_poll_set_consumer(handle) }

    /// Joins the group and subscribes to `topics`.
    func subscribe(_ topics: [String]) throws {
        let list = RDKafkaTopicPartitionList(capacity: topics.count)
        for t in topics { list.add(KafkaTopicPartition(topic: t, partition: RD_KAFKA_PARTITION_UA)) }
        let err = rd_kafka_subscribe(handle, list.pointer)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError(code: err, context: "cannot subscribe to \(topics.joined(separator: ", "))")
        }
    }

    /// Replaces the assignment with exactly `partitions`, each from its offset.
    func assign(_ partitions: [KafkaTopicPartition: KafkaOffset]) throws {
        let list = RDKafkaTopicPartitionList(capacity: partitions.count)
        for (tp, offset) in partitions.sorted(by: { ($0.key.topic, $0.key.partition) < ($1.key.topic, $1.key.partition) }) {
            list.add(tp, offset: offset)
        }
        let err = rd_kafka_assign(handle, list.pointer)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(code: err, context: "cannot assign partitions") }
    }

    /// Waits up to `timeoutMs` for the next record or event; nil when none came.
    /// `wantTopic` asks for the record's partition (it allocates the topic name).
    func consumerPoll(timeoutMs: Int32, wantTopic: Bool) -> RDKafkaPolled? {
        guard let m = rd_kafka_consumer_poll(handle, timeoutMs) else { return nil }
        let err = m.pointee.err
        if err == RD_KAFKA_RESP_ERR_NO_ERROR {
            return .record(m, wantTopic ? RDKafkaRecord.partition(of: m) : nil)
        }
        defer { rd_kafka_message_destroy(m) }
        if err == RD_KAFKA_RESP_ERR__PARTITION_EOF, let tp = RDKafkaRecord.partition(of: m) {
            return .partitionEnd(tp)
        }
        if err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET, let tp = RDKafkaRecord.partition(of: m) {
            return .offsetOutOfRange(tp, m.pointee.offset)
        }
        let detail = m.pointee.payload.map { String(cString: $0.assumingMemoryBound(to: CChar.self)) } ?? ""
        let error = KafkaError(code: err, context: "consumer error\(detail.isEmpty ? "" : ": \(detail)")")
        return .error(error, fatal: rd_kafka_fatal_error(handle, nil, 0) != RD_KAFKA_RESP_ERR_NO_ERROR)
    }

    /// Commits `offsets` on a queue of its own and waits at most `timeoutMs` for the
    /// coordinator's answer; throws unless every partition was committed. Serves no other
    /// callbacks, so it is safe inside a rebalance callback.
    func commitAndWait(_ offsets: [KafkaTopicPartition: Int64], timeoutMs: Int32) throws {
        let list = RDKafkaTopicPartitionList(offsets: offsets)
        guard let queue = rd_kafka_queue_new(handle) else { throw KafkaError("cannot create a queue for the offset commit") }
        defer { rd_kafka_queue_destroy(queue) }
        let err = rd_kafka_commit_queue(handle, list.pointer, queue, nil, nil)
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

    /// Commits `offsets`, asynchronously or waiting on the main queue.
    func commit(_ offsets: [KafkaTopicPartition: Int64], async: Bool) throws {
        let list = RDKafkaTopicPartitionList(offsets: offsets)
        let err = rd_kafka_commit(handle, list.pointer, async ? 1 : 0)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR__NO_OFFSET else {
            throw KafkaError(code: err, context: "offset commit failed")
        }
    }

    /// The group's committed next offset of each of `partitions` that has one.
    func committed(_ partitions: [KafkaTopicPartition], timeoutMs: Int32) throws -> [KafkaTopicPartition: Int64] {
        let list = RDKafkaTopicPartitionList(capacity: partitions.count)
        for tp in partitions { list.add(tp) }
        let err = rd_kafka_committed(handle, list.pointer, timeoutMs)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(code: err, context: "cannot read the group's committed offsets") }
        var result: [KafkaTopicPartition: Int64] = [:]
        for (tp, offset, error) in list.elements {
            guard error == RD_KAFKA_RESP_ERR_NO_ERROR else {
                throw KafkaError(code: error, context: "cannot read the committed offset of \(tp)")
            }
            if offset >= 0 { result[tp] = offset }
        }
        return result
    }

    /// Moves the fetch position of assigned partitions.
    func seek(_ offsets: [KafkaTopicPartition: Int64], timeoutMs: Int32) throws {
        let list = RDKafkaTopicPartitionList(offsets: offsets)
        if let error = rd_kafka_seek_partitions(handle, list.pointer, timeoutMs) {
            throw KafkaError(consuming: error, context: "cannot seek")
        }
        for (tp, _, err) in list.elements where err != RD_KAFKA_RESP_ERR_NO_ERROR {
            throw KafkaError(code: err, context: "cannot seek \(tp)")
        }
    }

    /// Whether librdkafka considers the current assignment lost.
    var assignmentLost: Bool { rd_kafka_assignment_lost(handle) != 0 }

    /// Leaves the group through a close queue, handing its rebalance events to `context`, for at
    /// most `timeoutMs`. Returns false when that did not finish in time; the client is then
    /// destroyed without waiting for the group.
    func closeConsumer(timeoutMs: Int32, context: ConsumerContext) -> Bool {
        guard let queue = rd_kafka_queue_new(handle) else {
            skipConsumerClose = true
            return false
        }
        defer { rd_kafka_queue_destroy(queue) }
        if let error = rd_kafka_consumer_close_queue(handle, queue) {
            rd_kafka_error_destroy(error)
            skipConsumerClose = true
            return false
        }
        let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(max(0, timeoutMs)) * 1_000_000
        while rd_kafka_consumer_closed(handle) == 0 {
            guard DispatchTime.now().uptimeNanoseconds < deadline else {
                skipConsumerClose = true
                return false
            }
            // Served as events, not callbacks: a callback-served close queue aborts librdkafka
            // on the ops it cannot hand to a callback (fetched messages).
            guard let event = rd_kafka_queue_poll(queue, 50) else { continue }
            if rd_kafka_event_type(event) == RD_KAFKA_EVENT_REBALANCE, let list = rd_kafka_event_topic_partition_list(event) {
                context.rebalance(handle, rd_kafka_event_error(event), RDKafkaTopicPartitionList(borrowing: list))
            }
            rd_kafka_event_destroy(event)
        }
        return true
    }
}

/// State shared with librdkafka's rebalance callback (always invoked on the polling thread).
final class ConsumerContext {
    weak var handler: KafkaRebalanceHandler?
    var assigned: Set<KafkaTopicPartition> = []
    var atEnd: Set<KafkaTopicPartition> = []
    var closed = false
    var generation = 0

    init(handler: KafkaRebalanceHandler?) { self.handler = handler }

    /// Installs the rebalance callback on `config`, with this context as its opaque.
    func install(on config: RDKafkaConfig) {
        config.setCallbackContext(self)
        rd_kafka_conf_set_rebalance_cb(config.pointer) { rk, err, partitions, opaque in
            guard let rk, let partitions, let opaque else { return }
            let context = Unmanaged<ConsumerContext>.fromOpaque(opaque).takeUnretainedValue()
            context.rebalance(rk, err, RDKafkaTopicPartitionList(borrowing: partitions))
        }
    }

    /// Asks the handler for start offsets (assign) or tells it (revoke), then applies the change
    /// eagerly or incrementally, as the group's protocol requires.
    func rebalance(_ rk: OpaquePointer, _ err: rd_kafka_resp_err_t, _ list: RDKafkaTopicPartitionList) {
        let partitions = list.elements.map(\.0)
        generation += 1
        // NULL once the group is being torn down (a close whose revocation took a while): the
        // worker's range assignor is eager anyway. Read unchecked, it crashed a stopping worker.
        let cooperative = rd_kafka_rebalance_protocol(rk).map { String(cString: $0) } == "COOPERATIVE"
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
