// Topic administration through the Kafka admin API.
import CRdKafka

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
        var errstr = [CChar](repeating: 0, count: 512)
        var newTopics: [OpaquePointer?] = []
        defer { for t in newTopics { rd_kafka_NewTopic_destroy(t) } }
        for spec in missing {
            guard let t = rd_kafka_NewTopic_new(spec.name, Int32(spec.partitions), Int32(spec.replicationFactor), &errstr, errstr.count) else {
                throw KafkaError("cannot describe topic \(spec.name): \(text(of: errstr))")
            }
            for (k, v) in spec.configs { rd_kafka_NewTopic_set_config(t, k, v) }
            newTopics.append(t)
        }
        guard let queue = rd_kafka_queue_new(client.handle) else { throw KafkaError("cannot create admin queue") }
        defer { rd_kafka_queue_destroy(queue) }
        newTopics.withUnsafeMutableBufferPointer { buf in
            rd_kafka_CreateTopics(client.handle, buf.baseAddress, buf.count, nil, queue)
        }
        guard let event = rd_kafka_queue_poll(queue, Int32(timeoutMs)) else {
            throw KafkaError("topic creation timed out after \(timeoutMs) ms", isRetriable: true)
        }
        defer { rd_kafka_event_destroy(event) }
        let err = rd_kafka_event_error(event)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(code: err, context: "topic creation failed") }
        guard let result = rd_kafka_event_CreateTopics_result(event) else { throw KafkaError("unexpected admin result") }
        var count = 0
        let topics = rd_kafka_CreateTopics_result_topics(result, &count)
        var created: [String] = []
        for i in 0..<count {
            guard let t = topics?[i] else { continue }
            let name = String(cString: rd_kafka_topic_result_name(t))
            let e = rd_kafka_topic_result_error(t)
            if e == RD_KAFKA_RESP_ERR_NO_ERROR { created.append(name); continue }
            if e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS { continue }
            let detail = rd_kafka_topic_result_error_string(t).map { String(cString: $0) } ?? ""
            throw KafkaError(code: e, context: "cannot create topic \(name) \(detail)")
        }
        return created
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
