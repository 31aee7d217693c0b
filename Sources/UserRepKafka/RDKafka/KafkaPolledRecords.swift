// Consumed records viewed in place in librdkafka's memory, without copying.
import CRdKafka

/// The records of one poll cycle, reused from cycle to cycle. Views into it are valid until the
/// next `poll` into the same buffer or `reset()`; the records are freed then.
public final class KafkaPolledRecords {
    var messages: [UnsafeMutablePointer<rd_kafka_message_t>] = []
    /// The client the records came from: rd_kafka_destroy waits for every record of its handle to
    /// be freed, so the buffer keeps that client alive until it has freed them.
    var owner: RDKafkaClient?
    /// Topic names the caller distinguishes; `KafkaMessage.topicIndex` indexes into this.
    public let topics: [String]
    private var topicHandles: [(OpaquePointer, Int)] = []

    /// Creates an empty buffer that classifies records by `topics`.
    public init(topics: [String]) {
        self.topics = topics
        messages.reserveCapacity(4096)
    }

    /// Number of records held.
    public var count: Int { messages.count }

    /// The `i`-th record.
    public subscript(i: Int) -> KafkaMessage {
        let m = messages[i]
        return KafkaMessage(pointer: m, topicIndex: topicIndex(m.pointee.rkt))
    }

    /// A view of every record, with topics resolved, that several threads may read at once.
    public func sharedView() -> KafkaRecordsView {
        KafkaRecordsView(messages: messages, topicIndices: messages.map { topicIndex($0.pointee.rkt) })
    }

    /// Frees all records.
    public func reset() {
        for m in messages { rd_kafka_message_destroy(m) }
        messages.removeAll(keepingCapacity: true)
        owner = nil
    }

    /// Frees and removes the records for which `shouldRemove` is true, keeping the others' order.
    public func removeAll(where shouldRemove: (KafkaMessage) -> Bool) {
        var kept: [UnsafeMutablePointer<rd_kafka_message_t>] = []
        kept.reserveCapacity(messages.count)
        for m in messages {
            if shouldRemove(KafkaMessage(pointer: m, topicIndex: -1)) { rd_kafka_message_destroy(m) } else { kept.append(m) }
        }
        messages = kept
    }

    func append(_ m: UnsafeMutablePointer<rd_kafka_message_t>) { messages.append(m) }

    private func topicIndex(_ rkt: OpaquePointer?) -> Int {
        guard let rkt else { return -1 }
        for (handle, index) in topicHandles where handle == rkt { return index }
        let name = String(cString: rd_kafka_topic_name(rkt))
        let index = topics.firstIndex(of: name) ?? -1
        topicHandles.append((rkt, index))
        return index
    }

    deinit { reset() }
}

/// The records of a `KafkaPolledRecords` for threads working on disjoint parts of it: each record
/// must be read by one thread at a time (reading headers caches them in the record). Valid until
/// the buffer's next poll or reset, like its own views.
public struct KafkaRecordsView: @unchecked Sendable {
    private let messages: [UnsafeMutablePointer<rd_kafka_message_t>]
    private let topicIndices: [Int]

    init(messages: [UnsafeMutablePointer<rd_kafka_message_t>], topicIndices: [Int]) {
        self.messages = messages
        self.topicIndices = topicIndices
    }

    /// Number of records.
    public var count: Int { messages.count }

    /// The `i`-th record.
    public subscript(i: Int) -> KafkaMessage { KafkaMessage(pointer: messages[i], topicIndex: topicIndices[i]) }
}

/// A consumed record, viewed in place. Do not keep it past its buffer's next poll.
public struct KafkaMessage {
    let pointer: UnsafeMutablePointer<rd_kafka_message_t>
    /// Index of the record's topic in the buffer's `topics`, -1 if not listed.
    public let topicIndex: Int

    /// Partition the record was read from.
    public var partition: Int32 { pointer.pointee.partition }
    /// Offset of the record.
    public var offset: Int64 { pointer.pointee.offset }
    /// Topic name (allocates; prefer `topicIndex` on hot paths).
    public var topic: String {
        pointer.pointee.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? ""
    }
    /// Key bytes, nil when the record has no key.
    public var key: UnsafeRawBufferPointer? {
        guard let k = pointer.pointee.key else { return nil }
        return UnsafeRawBufferPointer(start: k, count: pointer.pointee.key_len)
    }
    /// Value bytes, nil for a tombstone.
    public var value: UnsafeRawBufferPointer? {
        guard let v = pointer.pointee.payload else { return nil }
        return UnsafeRawBufferPointer(start: v, count: pointer.pointee.len)
    }
    /// Record timestamp in ms since epoch (create or log-append time), nil if unavailable.
    public var timestampMs: Int64? {
        var type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
        let ts = rd_kafka_message_timestamp(pointer, &type)
        return type == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE ? nil : ts
    }
    /// The value of the record's last header called `name`, nil if it has none (no allocation).
    public func header(named name: String) -> UnsafeRawBufferPointer? {
        var list: OpaquePointer?
        guard rd_kafka_message_headers(pointer, &list) == RD_KAFKA_RESP_ERR_NO_ERROR, let list else { return nil }
        var value: UnsafeRawPointer?
        var size = 0
        guard rd_kafka_header_get_last(list, name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR else { return nil }
        return UnsafeRawBufferPointer(start: value, count: size)
    }
    /// The record's headers (allocates).
    public var headers: [KafkaHeader] {
        var list: OpaquePointer?
        guard rd_kafka_message_headers(pointer, &list) == RD_KAFKA_RESP_ERR_NO_ERROR, let list else { return [] }
        var result: [KafkaHeader] = []
        var i = 0
        while true {
            var name: UnsafePointer<CChar>?
            var value: UnsafeRawPointer?
            var size = 0
            guard rd_kafka_header_get_all(list, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR, let name else { break }
            let bytes = value.map { Array(UnsafeRawBufferPointer(start: $0, count: size)) } ?? []
            result.append(KafkaHeader(name: String(cString: name), value: bytes))
            i += 1
        }
        return result
    }
}

/// Reads fields of a raw record outside a `KafkaMessage`.
enum RDKafkaRecord {
    /// The record's topic and partition, nil when it has no topic handle.
    static func partition(of m: UnsafeMutablePointer<rd_kafka_message_t>) -> KafkaTopicPartition? {
        guard let rkt = m.pointee.rkt else { return nil }
        return KafkaTopicPartition(topic: String(cString: rd_kafka_topic_name(rkt)), partition: m.pointee.partition)
    }
}
