// A topic partition and a position in it.

/// A partition of a topic.
public struct KafkaTopicPartition: Sendable, Hashable, CustomStringConvertible {
    /// Topic name.
    public let topic: String
    /// Partition number.
    public let partition: Int32

    /// Creates a topic partition.
    public init(topic: String, partition: Int32) {
        self.topic = topic
        self.partition = partition
    }

    public var description: String { "\(topic)[\(partition)]" }
}

/// A position to start reading a partition from.
public struct KafkaOffset: Sendable, Hashable, CustomStringConvertible {
    /// The offset, or one of librdkafka's logical offsets (negative).
    public let rawValue: Int64

    /// A concrete offset: the next record to read.
    public static func at(_ offset: Int64) -> KafkaOffset { KafkaOffset(rawValue: offset) }
    /// The oldest record still held.
    public static let beginning = KafkaOffset(rawValue: -2)
    /// After the newest record.
    public static let end = KafkaOffset(rawValue: -1)
    /// The group's committed offset (librdkafka's RD_KAFKA_OFFSET_STORED).
    public static let committed = KafkaOffset(rawValue: -1000)

    public var description: String {
        switch rawValue {
        case -2: "beginning"
        case -1: "end"
        case -1000: "committed"
        default: String(rawValue)
        }
    }
}

/// The low and high watermarks of a partition: records `low..<high` are held.
public struct KafkaWatermarks: Sendable, Hashable {
    /// Oldest offset held.
    public let low: Int64
    /// Offset the next produced record will get.
    public let high: Int64

    /// Creates watermarks.
    public init(low: Int64, high: Int64) {
        self.low = low
        self.high = high
    }
}
