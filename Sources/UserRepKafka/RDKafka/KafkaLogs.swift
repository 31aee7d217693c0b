// Where librdkafka's own log lines go: to the sinks the program added, else to standard error as
// librdkafka prints them.
import CRdKafka

/// One log line of librdkafka (a broker it cannot reach, a setting it warns about).
public struct KafkaLogLine: Sendable, Equatable {
    /// syslog severity: 0–2 emergency to critical, 3 error, 4 warning, 5 notice, 6 info, 7 debug.
    public let severity: Int
    /// The client's name, such as `rdkafka#producer-3`.
    public let client: String
    /// librdkafka's facility, such as `FAIL` or `CONFWARN`.
    public let facility: String
    /// The text, such as `[thrd:127.0.0.1:1/bootstrap]: ... Connection refused ...`.
    public let message: String

    /// Creates a line.
    public init(severity: Int, client: String, facility: String, message: String) {
        self.severity = severity
        self.client = client
        self.facility = facility
        self.message = message
    }
}

/// Routes the log lines of every librdkafka client of this process to the added sinks (from
/// librdkafka's threads: a sink must be thread safe). Without a sink, lines go to standard error in
/// librdkafka's own format, as before any was added.
public enum KafkaLogs {
    /// Receives log lines.
    public typealias Sink = @Sendable (KafkaLogLine) -> Void

    /// Adds `sink`; returns the token that removes it.
    @discardableResult
    public static func addSink(_ sink: @escaping Sink) -> Int { registry.add(sink) }

    /// Removes the sink added with `token`.
    public static func removeSink(_ token: Int) { registry.remove(token) }

    /// Makes the clients created from `config` log through this router. With `debugRequested`
    /// (the `debug` property names contexts), their debug lines come at severity 6, info: the
    /// operator asked for them, and should not also need the program's debug level to see them.
    static func install(on config: OpaquePointer, debugRequested: Bool) {
        if debugRequested {
            rd_kafka_conf_set_log_cb(config) { rk, level, facility, text in
                KafkaLogs.deliver(rk, min(level, 6), facility, text)
            }
        } else {
            rd_kafka_conf_set_log_cb(config) { rk, level, facility, text in
                KafkaLogs.deliver(rk, level, facility, text)
            }
        }
    }

    /// Hands one line to the sinks, or prints it as librdkafka would without any.
    private static func deliver(
        _ rk: OpaquePointer?, _ level: Int32, _ facility: UnsafePointer<CChar>?, _ text: UnsafePointer<CChar>?
    ) {
        let sinks = registry.current()
        guard !sinks.isEmpty else {
            rd_kafka_log_print(rk, level, facility, text)
            return
        }
        let line = KafkaLogLine(
            severity: Int(level), client: rk.map { String(cString: rd_kafka_name($0)) } ?? "",
            facility: facility.map { String(cString: $0) } ?? "", message: text.map { String(cString: $0) } ?? "")
        for sink in sinks { sink(line) }
    }

    private static let registry = Registry()

    /// The sinks, by token.
    private final class Registry: @unchecked Sendable {
        // Guarded by `lock`.
        private var sinks: [Int: Sink] = [:]
        private var nextToken = 0
        private let lock = Mutex()

        func add(_ sink: @escaping Sink) -> Int {
            lock.withLock {
                nextToken += 1
                sinks[nextToken] = sink
                return nextToken
            }
        }

        func remove(_ token: Int) { lock.withLock { _ = sinks.removeValue(forKey: token) } }

        func current() -> [Sink] { lock.withLock { sinks.sorted { $0.key < $1.key }.map(\.value) } }
    }
}
