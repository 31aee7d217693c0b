// The key partitioners of Kafka clients, computed by librdkafka's own functions.
import CRdKafka

/// A partitioner that places a keyed record by a hash of its key, as Kafka clients do by default.
public enum KafkaPartitioner: String, CaseIterable, Sendable, Comparable {
    /// CRC32 of the key: librdkafka's default (`consistent_random`), so that of the clients built
    /// on it (Python, Go and .NET confluent-kafka, kcat, userrep's own tools).
    case consistent
    /// murmur2 of the key: the Java client's default (librdkafka's `murmur2_random`).
    case murmur2
    /// FNV-1a of the key, as a signed number made positive (librdkafka's `fnv1a_random`, made
    /// to match the Go client Sarama's default).
    case fnv1a

    /// The partition of `key` among `count` partitions.
    public func partition(of key: UnsafeRawBufferPointer, count: Int32) -> Int32 {
        guard count > 1, let base = key.baseAddress else { return 0 }
        switch self {
        case .consistent: return rd_kafka_msg_partitioner_consistent(nil, base, key.count, count, nil, nil)
        case .murmur2: return rd_kafka_msg_partitioner_murmur2(nil, base, key.count, count, nil, nil)
        case .fnv1a: return rd_kafka_msg_partitioner_fnv1a(nil, base, key.count, count, nil, nil)
        }
    }

    /// The property value that makes a librdkafka producer partition keys this way.
    public var librdkafkaName: String {
        switch self {
        case .consistent: return "consistent_random"
        case .murmur2: return "murmur2_random"
        case .fnv1a: return "fnv1a_random"
        }
    }

    public static func < (a: KafkaPartitioner, b: KafkaPartitioner) -> Bool {
        allCases.firstIndex(of: a) ?? 0 < allCases.firstIndex(of: b) ?? 0
    }
}
