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
    public init(message: KafkaMessage) {
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
}
