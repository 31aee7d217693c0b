// Logging set-up shared by the commands.
import ArgumentParser
import Logging
import UserRepPipeline

/// `--log-level` option.
struct LogOptions: ParsableArguments {
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    /// A logger writing to standard error at the chosen level; `quiet` commands (whose own output
    /// is the point) log warnings and worse unless another level than the default is chosen.
    /// librdkafka's own log lines go through it too, under the label `librdkafka`.
    func logger(_ label: String, quiet: Bool = false) throws -> Logger {
        let logLevel = quiet && self.logLevel == "info" ? "warning" : self.logLevel
        guard let level = Logger.Level(rawValue: logLevel) else {
            throw ValidationError("unknown log level '\(logLevel)'")
        }
        var logger = Logger(label: label) { MillisecondLogHandler(label: $0) }
        logger.logLevel = level
        var kafkaLogger = Logger(label: "librdkafka") { MillisecondLogHandler(label: $0) }
        kafkaLogger.logLevel = level
        KafkaLogRouting.route(to: kafkaLogger)
        return logger
    }
}
