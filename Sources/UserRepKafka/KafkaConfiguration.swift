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

    /// This configuration with `defaults` filled in where a property is not already set.
    public func withDefaults(_ defaults: [String: String]) -> KafkaConfiguration {
        KafkaConfiguration(properties.merging(defaults) { mine, _ in mine })
    }

    /// This configuration with `overrides` replacing existing properties.
    public func overriding(_ overrides: [String: String]) -> KafkaConfiguration {
        KafkaConfiguration(properties.merging(overrides) { _, new in new })
    }

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
