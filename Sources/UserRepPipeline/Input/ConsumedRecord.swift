// What the input rules read of a consumed record, so they run on a Kafka message or on plain bytes alike.
import UserRepKafka
import UserRepState

/// A consumed input record as the validation rules see it: where it came from and its bytes.
/// `KafkaMessage` (a view into a poll batch) is one; `InputRecord` (owned bytes) is another, for
/// checking the rules without a cluster.
public protocol ConsumedRecord {
    /// The input the record's topic feeds; nil for a topic the worker does not read.
    var lane: InputLane? { get }
    /// The topic's name.
    var topic: String { get }
    /// Partition of the record.
    var partition: Int32 { get }
    /// Offset of the record.
    var offset: Int64 { get }
    /// Key bytes, valid while the record is; nil when absent.
    var key: UnsafeRawBufferPointer? { get }
    /// Value bytes, valid while the record is; nil for a tombstone.
    var value: UnsafeRawBufferPointer? { get }
    /// The record's timestamp (ms since the epoch: its producer's or its broker's clock), nil when
    /// it has none.
    var timestampMs: Int64? { get }
}

extension KafkaMessage: ConsumedRecord {
    /// The worker subscribes its input topics in lane order, so a topic's index is its lane.
    public var lane: InputLane? { InputLane(rawValue: topicIndex) }
}

/// A consumed record holding its own bytes.
public final class InputRecord: ConsumedRecord, @unchecked Sendable {
    // The buffers are written once in init and only read afterwards.
    public let lane: InputLane?
    public let topic: String
    public let partition: Int32
    public let offset: Int64
    public let key: UnsafeRawBufferPointer?
    public let value: UnsafeRawBufferPointer?
    public let timestampMs: Int64?

    /// Copies `key` and `value`.
    public init(
        lane: InputLane?, topic: String, partition: Int32 = 0, offset: Int64 = 0, key: [UInt8]?, value: [UInt8]?, timestampMs: Int64? = nil
    ) {
        self.lane = lane
        self.timestampMs = timestampMs
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.key = key.map(Self.copy)
        self.value = value.map(Self.copy)
    }

    private static func copy(_ bytes: [UInt8]) -> UnsafeRawBufferPointer {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, bytes.count), alignment: 1)
        buffer.copyBytes(from: bytes)
        return UnsafeRawBufferPointer(rebasing: buffer[0..<bytes.count])
    }

    deinit {
        key?.baseAddress.map { UnsafeMutableRawPointer(mutating: $0).deallocate() }
        value?.baseAddress.map { UnsafeMutableRawPointer(mutating: $0).deallocate() }
    }
}
