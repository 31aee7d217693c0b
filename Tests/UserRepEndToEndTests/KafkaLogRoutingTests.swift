// librdkafka's log lines reach the program's logger, at their level, named by client and facility.
import Foundation
import Logging
import Synchronization
import Testing
import UserRepKafka
import UserRepPipeline

@Suite struct KafkaLogRoutingTests {
    /// A refused connection is logged through the routed logger as an error of the producer's
    /// client; the gapless warning the worker's producer always causes is logged at debug; debug
    /// lines asked for with `-X debug` come at info.
    @Test func librdkafkasLinesReachTheRoutedLoggerAtTheirLevel() throws {
        let capture = LeveledLogCapture()
        var logger = Logger(label: "kafka-log-test") { _ in capture }
        logger.logLevel = .debug
        let token = KafkaLogRouting.route(to: logger)
        defer { KafkaLogs.removeSink(token) }

        // Port 1 of loopback: nothing listens there, so every connection is refused.
        let producer = try KafkaProducer(
            configuration: KafkaConfiguration(["bootstrap.servers": "127.0.0.1:1", "enable.gapless.guarantee": "true"]))
        let refused = { (entry: LeveledLogCapture.Entry) in entry.facility == "FAIL" && entry.message.contains("127.0.0.1:1") }
        let deadline = Date().addingTimeInterval(30)
        while !capture.entries.contains(where: refused) && Date() < deadline {
            try? producer.ping(timeoutMs: 500)
        }
        let failures = capture.entries.filter(refused)
        #expect(!failures.isEmpty, "\(capture.entries)")
        #expect(failures.allSatisfy { $0.level == .error && $0.client.hasPrefix("rdkafka#producer") }, "\(failures)")

        // Debug lines asked for with the `debug` property come at info; without it, none come.
        let quiet = capture.entries.filter { $0.level == .debug && $0.facility != "CONFWARN" }
        #expect(quiet.isEmpty, "\(quiet)")
        let verbose = try KafkaProducer(configuration: KafkaConfiguration(["bootstrap.servers": "127.0.0.1:1", "debug": "broker"]))
        let added = capture.entries.filter { $0.facility == "BROKER" && $0.message.contains("Added new broker") }
        #expect(!added.isEmpty && added.allSatisfy { $0.level == .info }, "\(capture.entries)")
        _ = verbose

        let gapless = capture.entries.filter { $0.facility == "CONFWARN" && $0.message.contains("enable.gapless.guarantee") }
        #expect(!gapless.isEmpty && gapless.allSatisfy { $0.level == .debug }, "\(capture.entries)")
    }
}

/// Keeps every message logged through it with its level and Kafka metadata.
final class LeveledLogCapture: LogHandler, @unchecked Sendable {
    /// One logged message.
    struct Entry: Sendable, CustomStringConvertible {
        let level: Logger.Level
        let client: String
        let facility: String
        let message: String
        var description: String { "\(level) \(client) \(facility) \(message)" }
    }

    private let stored = Mutex<[Entry]>([])
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(event: LogEvent) {
        let entry = Entry(
            level: event.level, client: event.metadata?["kafka.client"]?.description ?? "",
            facility: event.metadata?["kafka.facility"]?.description ?? "", message: event.message.description)
        stored.withLock { $0.append(entry) }
    }
    /// Messages so far.
    var entries: [Entry] { stored.withLock { $0 } }
}
