// librdkafka's built-in Kafka-protocol cluster: real brokers on loopback TCP, in this process.
import CRdKafka

/// An in-process Kafka cluster (librdkafka's `rdkafka_mock`) for `userrep demo`, benchmarks and
/// tests. Speaks the real wire protocol on loopback, keeps everything in memory, and keeps only
/// about 5 MiB per partition: older records are dropped, so size partitions for the data and check
/// low watermarks (`KafkaTopicCheck`). It can inject faults: brokers down, request errors, leader moves.
public final class EmbeddedKafkaCluster: @unchecked Sendable {
    // The mock cluster runs on its own librdkafka thread; its API calls are thread safe.
    private let host: RDKafkaClient
    private let cluster: OpaquePointer
    /// Comma-separated `host:port` list to use as `bootstrap.servers`.
    public let bootstrapServers: String
    /// Number of brokers.
    public let brokerCount: Int

    /// Starts a cluster of `brokers` brokers.
    public init(brokers: Int = 3) throws {
        // The mock brokers' sockets take this handle's settings. With Nagle's algorithm on, a
        // response written in pieces waits for the client's delayed ACK: 40–50 ms per flush on
        // about half the cycles (measured), which dominated latency at low rates.
        let config = try RDKafkaConfig(KafkaConfiguration(["log_level": "3", "socket.nagle.disable": "true"]))
        host = try RDKafkaClient(kind: .producer, config: config)
        guard let cluster = rd_kafka_mock_cluster_new(host.handle, Int32(brokers)) else {
            throw KafkaError("cannot start the embedded Kafka cluster")
        }
        self.cluster = cluster
        self.brokerCount = brokers
        bootstrapServers = String(cString: rd_kafka_mock_cluster_bootstraps(cluster))
    }

    /// Creates a topic. The embedded cluster ignores topic configs such as compaction.
    public func createTopic(_ name: String, partitions: Int, replicationFactor: Int = 1) throws {
        let err = rd_kafka_mock_topic_create(cluster, name, Int32(partitions), Int32(replicationFactor))
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError(code: err, context: "cannot create topic \(name)")
        }
    }

    /// Takes a broker down: its connections close and it refuses new ones.
    public func setBrokerDown(_ broker: Int32) {
        _ = rd_kafka_mock_broker_set_down(cluster, broker)
    }

    /// Brings a broker back up.
    public func setBrokerUp(_ broker: Int32) {
        _ = rd_kafka_mock_broker_set_up(cluster, broker)
    }

    /// Makes `broker` the leader of a partition.
    public func setPartitionLeader(_ tp: KafkaTopicPartition, broker: Int32) {
        _ = rd_kafka_mock_partition_set_leader(cluster, tp.topic, tp.partition, broker)
    }

    /// Makes `broker` the coordinator of consumer group `group` (instead of the one its id hashes to).
    public func setGroupCoordinator(_ group: String, broker: Int32) {
        _ = rd_kafka_mock_coordinator_set(cluster, "group", group, broker)
    }

    /// Makes the next requests of Kafka API `apiKey` fail with `errors` (librdkafka codes), in order.
    public func pushRequestErrors(apiKey: Int16, errors: [Int32]) {
        var codes = errors.map { rd_kafka_resp_err_t(rawValue: $0) }
        rd_kafka_mock_push_request_errors_array(cluster, apiKey, codes.count, &codes)
    }

    deinit {
        rd_kafka_mock_cluster_destroy(cluster)
    }
}
