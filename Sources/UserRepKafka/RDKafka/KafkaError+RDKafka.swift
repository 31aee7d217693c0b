// KafkaError from librdkafka's error codes and error objects.
import CRdKafka

extension KafkaError {
    /// An error from a librdkafka response code.
    public init(code: rd_kafka_resp_err_t, context: String) {
        self.code = code.rawValue
        self.name = String(cString: rd_kafka_err2name(code))
        self.message = "\(context): \(String(cString: rd_kafka_err2str(code)))"
        self.isFatal = code == RD_KAFKA_RESP_ERR__FATAL
        self.requiresAbort = false
        self.isRetriable = [
            RD_KAFKA_RESP_ERR__TRANSPORT, RD_KAFKA_RESP_ERR__TIMED_OUT, RD_KAFKA_RESP_ERR__QUEUE_FULL,
            RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
            RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE, RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN,
        ].contains(code)
    }

    /// An error from an `rd_kafka_error_t`, which it destroys.
    init(consuming error: OpaquePointer, context: String?) {
        let code = rd_kafka_error_code(error)
        let text = String(cString: rd_kafka_error_string(error))
        self.code = code.rawValue
        self.name = String(cString: rd_kafka_error_name(error))
        self.message = context.map { "\($0): \(text)" } ?? text
        self.isFatal = rd_kafka_error_is_fatal(error) != 0
        self.isRetriable = rd_kafka_error_is_retriable(error) != 0
        self.requiresAbort = rd_kafka_error_txn_requires_abort(error) != 0
        rd_kafka_error_destroy(error)
    }

    /// A wait that ran out of time (retriable).
    init(timedOut message: String) {
        self.init(code: RD_KAFKA_RESP_ERR__TIMED_OUT, context: message)
    }

    /// Whether the operation ran out of time (and may simply be retried).
    public var isTimeout: Bool {
        code == RD_KAFKA_RESP_ERR__TIMED_OUT.rawValue || code == RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE.rawValue
    }

    /// Whether a record was refused for its size (by the producer's `message.max.bytes` or a broker).
    public var isMessageTooLarge: Bool {
        code == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE.rawValue
    }
}
