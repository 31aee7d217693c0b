// The one error type of the Kafka layer.

/// A Kafka failure: what happened, librdkafka's code where there is one, and whether to retry.
public struct KafkaError: Error, Sendable, CustomStringConvertible {
    /// librdkafka's response error code or -1 when the error is not librdkafka's.
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
        self.message =
            "cannot reach Kafka at bootstrap.servers=\(bootstrap): \(error.message)"
            + (lastClientError.map { "; librdkafka said: \($0)" } ?? "")
            + "; check the address and that the brokers are up"
        self.isFatal = error.isFatal
        self.isRetriable = error.isRetriable
        self.requiresAbort = false
    }

    /// Every field given.
    init(code: Int32, name: String, message: String, isFatal: Bool, isRetriable: Bool, requiresAbort: Bool) {
        self.code = code
        self.name = name
        self.message = message
        self.isFatal = isFatal
        self.isRetriable = isRetriable
        self.requiresAbort = requiresAbort
    }

    /// The same error, its message prefixed with what was being done.
    func prefixed(_ context: String) -> KafkaError {
        KafkaError(
            code: code, name: name, message: "\(context): \(message)", isFatal: isFatal, isRetriable: isRetriable,
            requiresAbort: requiresAbort)
    }

    public var description: String {
        "\(message) [\(name)\(isFatal ? ", fatal" : "")\(isRetriable ? ", retriable" : "")\(requiresAbort ? ", abort transaction" : "")]"
    }
}
