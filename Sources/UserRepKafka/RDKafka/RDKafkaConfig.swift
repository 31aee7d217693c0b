// Builds an rd_kafka_conf_t from a KafkaConfiguration, owning it until a client takes it.
import CRdKafka

/// Owns an `rd_kafka_conf_t` until `RDKafkaClient` consumes it.
final class RDKafkaConfig {
    private(set) var pointer: OpaquePointer?
    /// Callback context handed to librdkafka as the handle's opaque; kept alive by the client.
    private(set) var context: AnyObject?

    init(_ configuration: KafkaConfiguration) throws {
        guard let conf = rd_kafka_conf_new() else { throw KafkaError("rd_kafka_conf_new failed") }
        pointer = conf
        KafkaLogs.install(on: conf, debugRequested: !(configuration["debug"] ?? "").isEmpty)
        for (key, value) in configuration.properties.sorted(by: { $0.key < $1.key }) {
            try set(key, value)
        }
    }

    func set(_ key: String, _ value: String) throws {
        var errstr = [CChar](repeating: 0, count: 512)
        let result = rd_kafka_conf_set(pointer, key, value, &errstr, errstr.count)
        guard result == RD_KAFKA_CONF_OK else {
            throw KafkaError("invalid Kafka property \(key)=\(value): \(text(of: errstr))")
        }
    }

    /// Makes `object` the opaque every callback of the handle receives.
    func setCallbackContext(_ object: AnyObject) {
        context = object
        rd_kafka_conf_set_opaque(pointer, Unmanaged.passUnretained(object).toOpaque())
    }

    /// Hands the configuration to librdkafka, which frees it from now on.
    func release() -> OpaquePointer? {
        defer { pointer = nil }
        return pointer
    }

    deinit {
        if let pointer { rd_kafka_conf_destroy(pointer) }
    }
}
