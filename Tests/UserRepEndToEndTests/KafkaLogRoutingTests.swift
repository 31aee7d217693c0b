// librdkafka's log lines reach the program's logger, at their level, named by client and facility.
import Foundation
import Logging
import Testing
import UserRepKafka
import UserRepPipeline

@Suite struct KafkaLogRoutingTests {
    /// A refused connection is logged through the routed logger as an error of the producer's
    /// client; the gapless warning the worker's producer always causes is logged at debug; debug
    /// lines asked for with `-X debug` come at info.
    @Test func librdkafkasLinesReachTheRoutedLoggerAtTheirLevel() throws {
        let capture = LogCapture()
        var logger = Logger(label: "kafka-log-test") { _ in capture }
        logger.logLevel = .debug
        let token = KafkaLogRouting.route(to: logger)
        defer { KafkaLogs.removeSink(token) }

        // Port 1 of loopback: nothing listens there, so every connection is refused.
        let producer = try KafkaProducer(
            configuration: KafkaConfiguration(["bootstrap.servers": "127.0.0.1:1", "enable.gapless.guarantee": "true"]))
        let refused = { (entry: LogCapture.Entry) in entry.metadata["kafka.facility"] == "FAIL" && entry.message.contains("127.0.0.1:1") }
        let deadline = Date().addingTimeInterval(30)
        while !capture.entries.contains(where: refused) && Date() < deadline {
            try? producer.ping(timeoutMs: 500)
        }
        let failures = capture.entries.filter(refused)
        #expect(!failures.isEmpty, "\(capture.entries)")
        #expect(failures.allSatisfy { $0.level == .error && "\($0.metadata["kafka.client"] ?? "")".hasPrefix("rdkafka#producer") }, "\(failures)")

        // Debug lines asked for with the `debug` property come at info; without it, none come.
        let quiet = capture.entries.filter { $0.level == .debug && $0.metadata["kafka.facility"] != "CONFWARN" }
        #expect(quiet.isEmpty, "\(quiet)")
        let verbose = try KafkaProducer(configuration: KafkaConfiguration(["bootstrap.servers": "127.0.0.1:1", "debug": "broker"]))
        let added = capture.entries.filter { $0.metadata["kafka.facility"] == "BROKER" && $0.message.contains("Added new broker") }
        #expect(!added.isEmpty && added.allSatisfy { $0.level == .info }, "\(capture.entries)")
        _ = verbose

        let gapless = capture.entries.filter { $0.metadata["kafka.facility"] == "CONFWARN" && $0.message.contains("enable.gapless.guarantee") }
        #expect(!gapless.isEmpty && gapless.allSatisfy { $0.level == .debug }, "\(capture.entries)")
    }
}
