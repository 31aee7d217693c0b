// The topics userrep needs, how to create them, and the check that nothing was lost to retention.
import UserRepKafka

/// Topic specs for a deployment, and helpers to create and verify them.
public enum TopicPlan {
    /// The worker's topics with `partitions` input partitions. The output, track and changelog
    /// topics are compacted; the others keep history under normal retention. The changelog must
    /// have exactly as many partitions as the input (partition p holds the state of input partition p).
    public static func specs(
        _ topics: TopicNames, partitions: Int, groupID: String = WorkerConfiguration.defaultGroupID, replicationFactor: Int = -1
    ) -> [KafkaTopicSpec] {
        let compact = ["cleanup.policy": "compact"]
        return [
            KafkaTopicSpec(name: topics.listens, partitions: partitions, replicationFactor: replicationFactor),
            KafkaTopicSpec(name: topics.onboarding, partitions: partitions, replicationFactor: replicationFactor),
            KafkaTopicSpec(name: topics.tracks, partitions: max(1, partitions / 2), replicationFactor: replicationFactor, configs: compact),
            KafkaTopicSpec(name: topics.output, partitions: partitions, replicationFactor: replicationFactor, configs: compact),
            KafkaTopicSpec(name: topics.deadLetters, partitions: 1, replicationFactor: replicationFactor),
            KafkaTopicSpec(
                name: topics.changelog(forGroup: groupID), partitions: partitions, replicationFactor: replicationFactor, configs: compact),
            KafkaTopicSpec(name: topics.batches, partitions: 1, replicationFactor: replicationFactor, configs: compact),
        ]
    }

    /// The output topic of model batch `batchID` (compacted, as many partitions as the input).
    public static func batchOutputSpec(_ topics: TopicNames, batchID: String, partitions: Int, replicationFactor: Int = -1) -> KafkaTopicSpec {
        KafkaTopicSpec(
            name: topics.output(forBatch: batchID), partitions: partitions, replicationFactor: replicationFactor,
            configs: ["cleanup.policy": "compact"])
    }
}
