// librdkafka's log lines in the program's own log: one format, one level setting.
import Logging
import UserRepKafka

/// Sends every Kafka client's log lines to a swift-log `Logger`.
public enum KafkaLogRouting {
    /// Routes librdkafka's log lines to `logger` from now on, at the level of their severity, with
    /// the client and facility as metadata (`kafka.client`, `kafka.facility`); returns the token
    /// that stops it (`KafkaLogs.removeSink`).
    @discardableResult
    public static func route(to logger: Logger) -> Int {
        KafkaLogs.addSink { line in
            logger.log(
                level: level(of: line), "\(line.message)",
                metadata: ["kafka.client": "\(line.client)", "kafka.facility": "\(line.facility)"], source: "librdkafka")
        }
    }

    /// The level a line is logged at: its syslog severity, except librdkafka's start-up warning
    /// that `enable.gapless.guarantee` is experimental, which the worker sets on purpose
    /// (`WorkerConfiguration.withGaplessProducer`) and logs at debug, as nothing is to be done about it.
    static func level(of line: KafkaLogLine) -> Logger.Level {
        if line.facility == "CONFWARN" && line.message.contains("enable.gapless.guarantee is experimental") {
            return .debug
        }
        switch line.severity {
        case ...2: return .critical
        case 3: return .error
        case 4: return .warning
        case 5: return .notice
        case 6: return .info
        default: return .debug
        }
    }
}
