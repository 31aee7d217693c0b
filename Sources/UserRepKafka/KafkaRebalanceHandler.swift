// The hook through which a consumer's owner learns about partition assignments.

/// Called on the polling thread, inside `KafkaConsumer.poll`, when the group moves partitions.
public protocol KafkaRebalanceHandler: AnyObject {
    /// Partitions were assigned; return where to start reading each (absent = group's committed offset).
    func partitionsAssigned(_ partitions: [KafkaTopicPartition]) -> [KafkaTopicPartition: KafkaOffset]
    /// Partitions are being taken away; flush and commit their work before returning.
    func partitionsRevoked(_ partitions: [KafkaTopicPartition])
}
