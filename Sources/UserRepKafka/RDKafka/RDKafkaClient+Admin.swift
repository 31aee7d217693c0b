// librdkafka's admin call for creating topics.
import CRdKafka

extension RDKafkaClient {
    /// Creates `specs` in one CreateTopics request and waits up to `timeoutMs` for the answer.
    /// Returns the names created; a topic that already exists is not an error.
    func createTopics(_ specs: [KafkaTopicSpec], timeoutMs: Int32) throws -> [String] {
        var errstr = [CChar](repeating: 0, count: 512)
        var newTopics: [OpaquePointer?] = []
        defer { for t in newTopics { rd_kafka_NewTopic_destroy(t) } }
        for spec in specs {
            guard let t = rd_kafka_NewTopic_new(spec.name, Int32(spec.partitions), Int32(spec.replicationFactor), &errstr, errstr.count)
            else {
                throw KafkaError("cannot describe topic \(spec.name): \(text(of: errstr))")
            }
            for (k, v) in spec.configs { rd_kafka_NewTopic_set_config(t, k, v) }
            newTopics.append(t)
        }
        guard let queue = rd_kafka_queue_new(handle) else { throw KafkaError("cannot create admin queue") }
        defer { rd_kafka_queue_destroy(queue) }
        newTopics.withUnsafeMutableBufferPointer { buf in
            rd_kafka_CreateTopics(handle, buf.baseAddress, buf.count, nil, queue)
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
}
