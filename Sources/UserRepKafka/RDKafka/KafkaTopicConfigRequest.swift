// A DescribeConfigs request for one topic, answered in the background and polled without blocking.
import CRdKafka

/// One topic's configs asked of the brokers (DescribeConfigs). The answer is collected with
/// `poll`, which never blocks: a broker that does not answer (the embedded cluster) costs the
/// asker nothing but the request.
public final class KafkaTopicConfigRequest {
    private let client: RDKafkaClient
    private let queue: OpaquePointer
    /// The topic asked about.
    public let topic: String

    init(client: RDKafkaClient, topic: String) throws {
        guard let resource = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic) else {
            throw KafkaError("cannot describe topic \(topic)")
        }
        defer { rd_kafka_ConfigResource_destroy(resource) }
        guard let queue = rd_kafka_queue_new(client.handle) else { throw KafkaError("cannot create admin queue") }
        self.client = client
        self.queue = queue
        self.topic = topic
        var resources: [OpaquePointer?] = [resource]
        resources.withUnsafeMutableBufferPointer { buf in
            rd_kafka_DescribeConfigs(client.handle, buf.baseAddress, buf.count, nil, queue)
        }
    }

    deinit { rd_kafka_queue_destroy(queue) }

    /// The answer once it has come (config name to value; entries without a value are left
    /// out), the brokers' refusal as a failure, or nil while none has come.
    public func poll() -> Result<[String: String], KafkaError>? {
        guard let event = rd_kafka_queue_poll(queue, 0) else { return nil }
        defer { rd_kafka_event_destroy(event) }
        let err = rd_kafka_event_error(event)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            let detail = rd_kafka_event_error_string(event).map { String(cString: $0) } ?? ""
            return .failure(KafkaError(code: err, context: "cannot describe topic \(topic): \(detail)"))
        }
        guard let result = rd_kafka_event_DescribeConfigs_result(event) else { return .failure(KafkaError("unexpected admin result")) }
        var count = 0
        let described = rd_kafka_DescribeConfigs_result_resources(result, &count)
        var configs: [String: String] = [:]
        for i in 0..<count {
            guard let r = described?[i] else { continue }
            let e = rd_kafka_ConfigResource_error(r)
            guard e == RD_KAFKA_RESP_ERR_NO_ERROR else {
                let detail = rd_kafka_ConfigResource_error_string(r).map { String(cString: $0) } ?? ""
                return .failure(KafkaError(code: e, context: "cannot describe topic \(topic): \(detail)"))
            }
            var n = 0
            let entries = rd_kafka_ConfigResource_configs(r, &n)
            for j in 0..<n {
                guard let entry = entries?[j], let name = rd_kafka_ConfigEntry_name(entry), let value = rd_kafka_ConfigEntry_value(entry)
                else { continue }
                configs[String(cString: name)] = String(cString: value)
            }
        }
        return .success(configs)
    }
}
