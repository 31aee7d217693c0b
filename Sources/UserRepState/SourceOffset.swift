// A consumed input position, stored atomically with the state it produced.

/// The next offset to read from one input partition.
public struct SourceOffset: Sendable, Hashable {
    /// Input topic.
    public let topic: String
    /// Partition number.
    public let partition: Int32
    /// Next offset to read (one past the last record applied).
    public let next: Int64

    /// Creates a source offset.
    public init(topic: String, partition: Int32, next: Int64) {
        self.topic = topic
        self.partition = partition
        self.next = next
    }
}
