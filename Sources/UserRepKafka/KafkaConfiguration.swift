// librdkafka properties, settable from the command line (-X key=value) and properties files.
import Foundation

/// A set of librdkafka properties (https://github.com/confluentinc/librdkafka/blob/master/CONFIGURATION.md).
/// Anything librdkafka accepts can be passed through, so one binary runs against Apache Kafka,
/// Redpanda or a managed service.
public struct KafkaConfiguration: Sendable, Equatable {
    /// Property names to values, in librdkafka's spelling.
    public var properties: [String: String]

    /// Creates a configuration from properties.
    public init(_ properties: [String: String] = [:]) { self.properties = properties }

    /// Reads one property.
    public subscript(key: String) -> String? {
        get { properties[key] }
        set { properties[key] = newValue }
    }

    /// A boolean property as librdkafka reads it (true, t, 1 / false, f, 0, any case); nil when
    /// unset or spelled otherwise.
    public func flag(_ key: String) -> Bool? {
        switch properties[key]?.lowercased() {
        case "true", "t", "1": return true
        case "false", "f", "0": return false
        default: return nil
        }
    }

    /// This configuration with `defaults` filled in where a property is not already set.
    public func withDefaults(_ defaults: [String: String]) -> KafkaConfiguration {
        KafkaConfiguration(properties.merging(defaults) { mine, _ in mine })
    }

    /// This configuration with `overrides` replacing existing properties.
    public func overriding(_ overrides: [String: String]) -> KafkaConfiguration {
        KafkaConfiguration(properties.merging(overrides) { _, new in new })
    }

    /// Defaults shared by the producer and the consumer, under their own. Nagle's algorithm is off:
    /// requests go out whole, at once, never waiting for the previous one's ACK.
    /// No client lets a broker auto-create a topic it names: userrep's topics need their partition
    /// counts and compaction, so a missing one is an error, never a default-sized new topic.
    static let clientDefaults = ["socket.nagle.disable": "true", "allow.auto.create.topics": "false"]

    /// Properties only consumers understand; producers and admin clients are not given them.
    static let consumerOnly: Set<String> = [
        "group.id", "group.instance.id", "session.timeout.ms", "heartbeat.interval.ms", "max.poll.interval.ms",
        "partition.assignment.strategy", "auto.offset.reset", "enable.auto.commit", "auto.commit.interval.ms",
        "enable.auto.offset.store", "enable.partition.eof", "isolation.level", "fetch.min.bytes", "fetch.max.bytes",
        "fetch.wait.max.ms", "max.partition.fetch.bytes", "queued.min.messages", "queued.max.messages.kbytes",
        "check.crcs", "coordinator.query.interval.ms", "group.protocol.type",
    ]

    /// Properties only producers understand; consumers are not given them.
    static let producerOnly: Set<String> = [
        "enable.idempotence", "transactional.id", "transaction.timeout.ms", "acks", "request.required.acks",
        "compression.type", "compression.codec", "compression.level", "linger.ms", "queue.buffering.max.ms",
        "batch.num.messages", "batch.size", "queue.buffering.max.messages", "queue.buffering.max.kbytes",
        "message.timeout.ms", "delivery.timeout.ms", "retries", "message.send.max.retries", "partitioner",
        "sticky.partitioning.linger.ms", "enable.gapless.guarantee", "max.in.flight", "max.in.flight.requests.per.connection",
    ]

    /// The properties meant for a producer or admin client (one `-X` set can serve every client).
    public var forProducer: KafkaConfiguration { KafkaConfiguration(properties.filter { !Self.consumerOnly.contains($0.key) }) }

    /// The properties meant for a consumer.
    public var forConsumer: KafkaConfiguration { KafkaConfiguration(properties.filter { !Self.producerOnly.contains($0.key) }) }

    /// Parses `key=value` (the argument of `-X`, as kcat takes it).
    public static func parseAssignment(_ text: String) throws -> (String, String) {
        guard let eq = text.firstIndex(of: "="), eq != text.startIndex else {
            throw KafkaError("expected key=value, got '\(text)'")
        }
        let key = text[..<eq].trimmingCharacters(in: .whitespaces)
        let value = text[text.index(after: eq)...].trimmingCharacters(in: .whitespaces)
        return (key, value)
    }

    /// Reads a Java-style properties file: `key=value` lines, `#` or `!` comments, blank lines.
    public static func load(propertiesFile path: String) throws -> [String: String] {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw KafkaError("cannot read properties file \(path): \(error.localizedDescription)")
        }
        var result: [String: String] = [:]
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix("!") { continue }
            do {
                let (k, v) = try parseAssignment(line)
                result[k] = v
            } catch {
                throw KafkaError("\(path):\(n + 1): expected key=value, got '\(line)'")
            }
        }
        return result
    }
}
