// Topic administration through the Kafka admin API.

/// What a topic should look like when `KafkaAdmin.createTopics` makes it.
public struct KafkaTopicSpec: Sendable, Hashable {
    /// Topic name.
    public let name: String
    /// Partition count.
    public let partitions: Int
    /// Replication factor (-1 = the broker's default).
    public let replicationFactor: Int
    /// Topic configs, e.g. `cleanup.policy=compact`.
    public let configs: [String: String]

    /// Creates a topic spec.
    public init(name: String, partitions: Int, replicationFactor: Int = -1, configs: [String: String] = [:]) {
        self.name = name
        self.partitions = partitions
        self.replicationFactor = replicationFactor
        self.configs = configs
    }
}

/// Creates topics and answers questions about them.
public final class KafkaAdmin: @unchecked Sendable {
    // librdkafka's admin calls are thread safe.
    let client: RDKafkaClient

    /// Creates an admin client.
    public init(configuration: KafkaConfiguration) throws {
        client = try RDKafkaClient(kind: .producer, config: RDKafkaConfig(configuration.forProducer))
    }

    /// Creates the topics that do not exist yet; existing ones are left alone and reported as such.
    /// Returns the names of the topics it created.
    @discardableResult
    public func createTopics(_ specs: [KafkaTopicSpec], timeoutMs: Int32 = 30_000) throws -> [String] {
        var missing: [KafkaTopicSpec] = []
        for spec in specs where try client.partitionCount(topic: spec.name, timeoutMs: timeoutMs) == nil {
            missing.append(spec)
        }
        guard !missing.isEmpty else { return [] }
        return try client.createTopics(missing, timeoutMs: timeoutMs)
    }

    /// Number of partitions of a topic, nil if it does not exist.
    public func partitionCount(topic: String, timeoutMs: Int32 = 10_000) throws -> Int? {
        try client.partitionCount(topic: topic, timeoutMs: timeoutMs)
    }

    /// Watermarks of every partition of `topic`.
    public func watermarks(topic: String, timeoutMs: Int32 = 10_000) throws -> [Int32: KafkaWatermarks] {
        guard let n = try partitionCount(topic: topic, timeoutMs: timeoutMs) else {
            throw KafkaError("topic \(topic) does not exist")
        }
        var result: [Int32: KafkaWatermarks] = [:]
        for p in 0..<Int32(n) {
            result[p] = try client.watermarks(KafkaTopicPartition(topic: topic, partition: p), timeoutMs: timeoutMs)
        }
        return result
    }
}
