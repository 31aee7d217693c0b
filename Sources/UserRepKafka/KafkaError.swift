// The one error type of the Kafka layer.
import CRdKafka

/// A Kafka failure: what happened, librdkafka's code where there is one, and whether to retry.
public struct KafkaError: Error, Sendable, CustomStringConvertible {
    /// librdkafka's error code (`rd_kafka_resp_err_t`) or -1 when the error is not librdkafka's.
    public let code: Int32
    /// librdkafka's name for the code, e.g. `_TRANSPORT`, or `userrep`.
    public let name: String
    /// Human-readable explanation.
    public let message: String
    /// The client is unusable after this error and must be recreated.
    public let isFatal: Bool
    /// Retrying the same operation may succeed.
    public let isRetriable: Bool
    /// The current transaction cannot commit and must be aborted (then the work redone).
    public let requiresAbort: Bool

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
    init(consuming error: OpaquePointer, context: String) {
        let code = rd_kafka_error_code(error)
        self.code = code.rawValue
        self.name = String(cString: rd_kafka_error_name(error))
        self.message = "\(context): \(String(cString: rd_kafka_error_string(error)))"
        self.isFatal = rd_kafka_error_is_fatal(error) != 0
        self.isRetriable = rd_kafka_error_is_retriable(error) != 0
        self.requiresAbort = rd_kafka_error_txn_requires_abort(error) != 0
        rd_kafka_error_destroy(error)
    }

    /// An error raised by this library rather than librdkafka.
    public init(_ message: String, isRetriable: Bool = false) {
        self.code = -1
        self.name = "userrep"
        self.message = message
        self.isFatal = false
        self.isRetriable = isRetriable
        self.requiresAbort = false
    }

    /// No broker answered: names the servers tried and librdkafka's last word about them (e.g. a
    /// failed name lookup), so the operator sees which address is wrong.
    public init(unreachable bootstrap: String, error: KafkaError, lastClientError: String?) {
        self.code = error.code
        self.name = error.name
        self.message = "cannot reach Kafka at bootstrap.servers=\(bootstrap): \(error.message)"
            + (lastClientError.map { "; librdkafka said: \($0)" } ?? "")
            + "; check the address and that the brokers are up"
        self.isFatal = error.isFatal
        self.isRetriable = error.isRetriable
        self.requiresAbort = false
    }

    /// Whether the operation ran out of time (and may simply be retried).
    public var isTimeout: Bool {
        code == RD_KAFKA_RESP_ERR__TIMED_OUT.rawValue || code == RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE.rawValue
    }

    /// Whether a record was refused for its size (by the producer's `message.max.bytes` or a broker).
    public var isMessageTooLarge: Bool {
        code == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE.rawValue
    }

    public var description: String {
        "\(message) [\(name)\(isFatal ? ", fatal" : "")\(isRetriable ? ", retriable" : "")\(requiresAbort ? ", abort transaction" : "")]"
    }
}
