// A copy of an input record bound for the dead-letter topic.
import UserRepKafka

/// The original bytes and source position of a record that could not be processed.
public struct DeadLetterRecord: Sendable {
    /// Source topic.
    public let topic: String
    /// Source partition.
    public let partition: Int32
    /// Source offset.
    public let offset: Int64
    /// Original key.
    public let key: [UInt8]?
    /// Original value.
    public let value: [UInt8]?

    /// Copies a consumed record.
    public init(message: some ConsumedRecord) {
        topic = message.topic
        partition = message.partition
        offset = message.offset
        key = message.key.map { Array($0) }
        value = message.value.map { Array($0) }
    }

    /// Header names on dead-letter records.
    public enum Header {
        /// Reason code (`DeadLetterReason`).
        public static let reason = "dlq.reason"
        /// Human-readable detail.
        public static let detail = "dlq.detail"
        /// Source topic.
        public static let topic = "dlq.source.topic"
        /// Source partition.
        public static let partition = "dlq.source.partition"
        /// Source offset.
        public static let offset = "dlq.source.offset"
        /// Present when key or value were cut to fit: `value`, `key` or `key,value`.
        public static let truncated = "dlq.truncated"
        /// The original value's size in bytes (only on truncated records).
        public static let originalValueBytes = "dlq.original.value.bytes"
        /// The original key's size in bytes (only on truncated records).
        public static let originalKeyBytes = "dlq.original.key.bytes"
    }

    /// Headers describing why and where from.
    public func headers(for rejection: InputRejection) -> [KafkaHeader] {
        [
            KafkaHeader(name: Header.reason, string: rejection.reason.rawValue),
            KafkaHeader(name: Header.detail, string: String(rejection.detail.prefix(1024))),
            KafkaHeader(name: Header.topic, string: topic),
            KafkaHeader(name: Header.partition, string: String(partition)),
            KafkaHeader(name: Header.offset, string: String(offset)),
        ]
    }

    /// What goes on the dead-letter topic: the original key and value when together they fit in
    /// `maxBytes`, else their first bytes (the key keeps at most half) with headers naming what
    /// was cut and the original sizes. The source headers locate the original, so a record of any
    /// size can be dead-lettered: a record too large for the broker would otherwise stop its
    /// partition for good (the worker could neither dead-letter nor skip it).
    public func payload(for rejection: InputRejection, maxBytes: Int) -> (key: [UInt8]?, value: [UInt8]?, headers: [KafkaHeader]) {
        var headers = headers(for: rejection)
        let keyCount = key?.count ?? 0, valueCount = value?.count ?? 0
        guard keyCount + valueCount > maxBytes else { return (key, value, headers) }
        let keyKept = min(keyCount, maxBytes / 2)
        let valueKept = min(valueCount, maxBytes - keyKept)
        var cut: [String] = []
        if keyKept < keyCount { cut.append("key") }
        if valueKept < valueCount { cut.append("value") }
        headers.append(KafkaHeader(name: Header.truncated, string: cut.joined(separator: ",")))
        headers.append(KafkaHeader(name: Header.originalKeyBytes, string: String(keyCount)))
        headers.append(KafkaHeader(name: Header.originalValueBytes, string: String(valueCount)))
        return (key.map { Array($0.prefix(keyKept)) }, value.map { Array($0.prefix(valueKept)) }, headers)
    }
}
