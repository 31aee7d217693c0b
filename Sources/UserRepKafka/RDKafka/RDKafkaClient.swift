// Owns one rd_kafka_t handle (producer or consumer) and the calls shared by both.
import CRdKafka

/// Owns an `rd_kafka_t`; destroyed with the object.
final class RDKafkaClient: @unchecked Sendable {
    // librdkafka handles are thread safe; callers serialize what librdkafka asks them to (polling).
    let handle: OpaquePointer
    private var topics: [String: OpaquePointer] = [:]
    private let topicsLock = Mutex()
    /// Keeps the callbacks' opaque object alive as long as librdkafka may call back with it.
    private let callbackContext: AnyObject?

    enum Kind { case producer, consumer }

    /// Set when a consumer's close did not finish in time: destroying it then must not try again
    /// (that would wait for an unreachable group coordinator).
    var skipConsumerClose = false

    init(kind: Kind, config: RDKafkaConfig) throws {
        var errstr = [CChar](repeating: 0, count: 512)
        let type = kind == .producer ? RD_KAFKA_PRODUCER : RD_KAFKA_CONSUMER
        callbackContext = config.context
        guard let conf = config.release() else { throw KafkaError("configuration already used") }
        guard let rk = rd_kafka_new(type, conf, &errstr, errstr.count) else {
            // On failure librdkafka leaves the configuration to the caller.
            rd_kafka_conf_destroy(conf)
            throw KafkaError("cannot create Kafka client: \(text(of: errstr))")
        }
        handle = rk
    }

    /// A cached topic handle (`rd_kafka_topic_t`), valid for the client's lifetime. `properties`
    /// (topic-level settings such as `compression.codec`) apply only when the handle is created.
    func topic(_ name: String, properties: [String: String] = [:]) throws -> OpaquePointer {
        try topicsLock.withLock {
            if let t = topics[name] { return t }
            var conf: OpaquePointer?
            if !properties.isEmpty {
                conf = rd_kafka_topic_conf_new()
                var errstr = [CChar](repeating: 0, count: 512)
                for (k, v) in properties.sorted(by: { $0.key < $1.key })
                where rd_kafka_topic_conf_set(conf, k, v, &errstr, errstr.count) != RD_KAFKA_CONF_OK {
                    rd_kafka_topic_conf_destroy(conf)
                    throw KafkaError("invalid topic property \(k)=\(v) for \(name): \(text(of: errstr))")
                }
            }
            // rd_kafka_topic_new takes over `conf`, also when it fails.
            guard let t = rd_kafka_topic_new(handle, name, conf) else {
                throw KafkaError(code: rd_kafka_last_error(), context: "cannot open topic \(name)")
            }
            topics[name] = t
            return t
        }
    }

    /// Serves queued callbacks (delivery reports, errors, statistics).
    @discardableResult
    func poll(timeoutMs: Int32) -> Int32 { rd_kafka_poll(handle, timeoutMs) }

    /// Low and high watermarks of a partition, asked of its leader.
    func watermarks(_ tp: KafkaTopicPartition, timeoutMs: Int32) throws -> KafkaWatermarks {
        var low: Int64 = 0, high: Int64 = 0
        let err = rd_kafka_query_watermark_offsets(handle, tp.topic, tp.partition, &low, &high, timeoutMs)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError(code: err, context: "cannot read watermarks of \(tp)")
        }
        return KafkaWatermarks(low: low, high: high)
    }

    /// The watermarks librdkafka last saw for a partition, without a request: the high one is
    /// updated by every fetch response for it. Nil when none has come yet.
    func cachedWatermarks(_ tp: KafkaTopicPartition) -> KafkaWatermarks? {
        var low: Int64 = 0, high: Int64 = 0
        let err = rd_kafka_get_watermark_offsets(handle, tp.topic, tp.partition, &low, &high)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR, high >= 0 else { return nil }
        return KafkaWatermarks(low: low, high: high)
    }

    /// Number of partitions of `topic`, or nil when the cluster does not know it. Asks for all
    /// topics' metadata, since asking for one topic may auto-create it on some brokers.
    func partitionCount(topic name: String, timeoutMs: Int32) throws -> Int? {
        var metadata: UnsafePointer<rd_kafka_metadata>?
        let err = rd_kafka_metadata(handle, 1, nil, &metadata, timeoutMs)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR, let md = metadata else {
            throw KafkaError(code: err, context: "cannot read cluster metadata for topic \(name)")
        }
        defer { rd_kafka_metadata_destroy(md) }
        for i in 0..<Int(md.pointee.topic_cnt) {
            let t = md.pointee.topics[i]
            guard String(cString: t.topic) == name else { continue }
            if t.err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART { return nil }
            guard t.err == RD_KAFKA_RESP_ERR_NO_ERROR else {
                throw KafkaError(code: t.err, context: "metadata of topic \(name)")
            }
            return Int(t.partition_cnt)
        }
        return nil
    }

    /// Asks the cluster for its broker list (no topics): the cheapest round trip that proves a
    /// broker answers.
    func ping(timeoutMs: Int32) throws {
        var metadata: UnsafePointer<rd_kafka_metadata>?
        let err = rd_kafka_metadata(handle, 0, nil, &metadata, timeoutMs)
        if let metadata { rd_kafka_metadata_destroy(metadata) }
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(code: err, context: "no broker answered") }
    }

    /// Name of librdkafka's client instance (for logs).
    var name: String { String(cString: rd_kafka_name(handle)) }

    deinit {
        for (_, t) in topics { rd_kafka_topic_destroy(t) }
        if skipConsumerClose {
            rd_kafka_destroy_flags(handle, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE)
        } else {
            rd_kafka_destroy(handle)
        }
    }
}
