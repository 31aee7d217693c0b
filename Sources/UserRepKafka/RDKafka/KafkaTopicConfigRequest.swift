// A DescribeConfigs request for some topics, answered in the background and polled without blocking.
import CRdKafka

/// Topics' configs asked of the brokers (DescribeConfigs), in one request. The answer is
/// collected with `poll`, which never blocks: a broker that does not answer (the embedded
/// cluster) costs the asker nothing but the request.
public final class KafkaTopicConfigRequest {
    private let client: RDKafkaClient
    private let queue: OpaquePointer
    /// The topics asked about.
    public let topics: [String]

    init(client: RDKafkaClient, topics: [String]) throws {
        var resources: [OpaquePointer?] = []
        defer { for r in resources { rd_kafka_ConfigResource_destroy(r) } }
        for topic in topics {
            guard let resource = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic) else {
                throw KafkaError("cannot describe topic \(topic)")
            }
            resources.append(resource)
        }
        guard let queue = rd_kafka_queue_new(client.handle) else { throw KafkaError("cannot create admin queue") }
        self.client = client
        self.queue = queue
        self.topics = topics
        resources.withUnsafeMutableBufferPointer { buf in
            rd_kafka_DescribeConfigs(client.handle, buf.baseAddress, buf.count, nil, queue)
        }
    }

    deinit { rd_kafka_queue_destroy(queue) }

    /// The answer once it has come: per topic asked, its configs (name to value; entries
    /// without a value are left out) or the brokers' refusal (of that topic, or of the whole
    /// request); nil while none has come.
    public func poll() -> [String: Result<[String: String], KafkaError>]? {
        guard let event = rd_kafka_queue_poll(queue, 0) else { return nil }
        defer { rd_kafka_event_destroy(event) }
        let err = rd_kafka_event_error(event)
        func everyTopic(_ error: KafkaError) -> [String: Result<[String: String], KafkaError>] {
            Dictionary(uniqueKeysWithValues: topics.map { ($0, .failure(error)) })
        }
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            let detail = rd_kafka_event_error_string(event).map { String(cString: $0) } ?? ""
            return everyTopic(KafkaError(code: err, context: "cannot describe topics \(topics): \(detail)"))
        }
        guard let result = rd_kafka_event_DescribeConfigs_result(event) else { return everyTopic(KafkaError("unexpected admin result")) }
        var count = 0
        let described = rd_kafka_DescribeConfigs_result_resources(result, &count)
        var answers: [String: Result<[String: String], KafkaError>] = [:]
        for i in 0..<count {
            guard let r = described?[i], let namePointer = rd_kafka_ConfigResource_name(r) else { continue }
            let topic = String(cString: namePointer)
            let e = rd_kafka_ConfigResource_error(r)
            guard e == RD_KAFKA_RESP_ERR_NO_ERROR else {
                let detail = rd_kafka_ConfigResource_error_string(r).map { String(cString: $0) } ?? ""
                answers[topic] = .failure(KafkaError(code: e, context: "cannot describe topic \(topic): \(detail)"))
                continue
            }
            var configs: [String: String] = [:]
            var n = 0
            let entries = rd_kafka_ConfigResource_configs(r, &n)
            for j in 0..<n {
                guard let entry = entries?[j], let name = rd_kafka_ConfigEntry_name(entry), let value = rd_kafka_ConfigEntry_value(entry)
                else { continue }
                configs[String(cString: name)] = String(cString: value)
            }
            answers[topic] = .success(configs)
        }
        for topic in topics where answers[topic] == nil {
            answers[topic] = .failure(KafkaError("the brokers' answer left topic \(topic) out"))
        }
        return answers
    }
}
