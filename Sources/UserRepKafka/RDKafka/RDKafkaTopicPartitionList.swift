// Owns an rd_kafka_topic_partition_list_t and converts it to and from Swift values.
import CRdKafka

/// Owns an `rd_kafka_topic_partition_list_t`.
final class RDKafkaTopicPartitionList {
    let pointer: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>
    private let owned: Bool

    init(capacity: Int = 1) {
        pointer = rd_kafka_topic_partition_list_new(Int32(max(capacity, 1)))
        owned = true
    }

    /// A list of partitions, each at its given offset.
    convenience init(offsets: [KafkaTopicPartition: Int64]) {
        self.init(capacity: offsets.count)
        for (tp, offset) in offsets { add(tp, offset: .at(offset)) }
    }

    /// Wraps a list owned by librdkafka (e.g. in a rebalance callback); not freed here.
    init(borrowing list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) {
        pointer = list
        owned = false
    }

    func add(_ tp: KafkaTopicPartition, offset: KafkaOffset? = nil) {
        let element = rd_kafka_topic_partition_list_add(pointer, tp.topic, tp.partition)
        if let offset { element?.pointee.offset = offset.rawValue }
    }

    /// The partitions with their offsets and per-partition errors.
    var elements: [(KafkaTopicPartition, Int64, rd_kafka_resp_err_t)] {
        (0..<Int(pointer.pointee.cnt)).map { i in
            let e = pointer.pointee.elems[i]
            return (KafkaTopicPartition(topic: String(cString: e.topic), partition: e.partition), e.offset, e.err)
        }
    }

    func setOffset(_ tp: KafkaTopicPartition, _ offset: KafkaOffset) {
        if let e = rd_kafka_topic_partition_list_find(pointer, tp.topic, tp.partition) {
            e.pointee.offset = offset.rawValue
        }
    }

    deinit {
        if owned { rd_kafka_topic_partition_list_destroy(pointer) }
    }
}
