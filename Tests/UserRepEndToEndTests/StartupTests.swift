// What a worker checks before it works: its topics exist (none auto-created), Kafka answers, a stop request is honoured.
import Foundation
import Logging
import Synchronization
import Testing
import UserRepKafka
import UserRepPipeline
import UserRepTesting

@Suite(.serialized) struct StartupTests {
    @Test func aMissingChangelogTopicIsRefusedAndNotAutoCreated() throws {
        let w = try Workload(users: 10, tracks: 20, partitions: 2, seed: 59)
        defer { w.env.cleanUp() }
        var config = try w.env.workerConfiguration()
        config.groupID = "group-without-changelog"
        let changelog = config.changelogTopic
        #expect {
            _ = try StreamWorker(configuration: config, model: w.env.model)
        } throws: { error in
            "\(error)".contains("'\(changelog)'") && "\(error)".contains("does not exist")
        }
        #expect(try KafkaProducer(configuration: w.env.kafka).partitionCount(topic: changelog) == nil, "the broker did not create it")
    }

    @Test func missingTopicsAreNamedAllAtOnce() throws {
        let w = try Workload(users: 10, tracks: 20, partitions: 2, seed: 61)
        defer { w.env.cleanUp() }
        var config = try w.env.workerConfiguration()
        config.topics.output = "no-such-output"
        config.topics.deadLetters = "no-such-dead-letters"
        #expect {
            _ = try StreamWorker(configuration: config, model: w.env.model)
        } throws: { error in
            "\(error)".contains("'no-such-output'") && "\(error)".contains("'no-such-dead-letters'")
        }
        #expect(try KafkaProducer(configuration: w.env.kafka).partitionCount(topic: "no-such-output") == nil)
    }

    @Test func unreachableAndUnresolvableServersAreNamed() throws {
        let w = try Workload(users: 10, tracks: 20, partitions: 1, seed: 67)
        defer { w.env.cleanUp() }
        for server in ["127.0.0.1:1", "no-such-host.invalid:9092"] {
            var config = try w.env.workerConfiguration()
            config.kafka = KafkaConfiguration(["bootstrap.servers": server])
            #expect {
                _ = try StreamWorker(configuration: config, model: w.env.model)
            } throws: { error in
                "\(error)".contains("bootstrap.servers=\(server)")
            }
        }
    }

    @Test func aStopRequestedDuringTheTrackTableLoadNeverReportsReady() throws {
        let w = try Workload(users: 10, tracks: 20, partitions: 1, seed: 71)
        defer { w.env.cleanUp() }
        let messages = LogCapture()
        let logger = Logger(label: "test") { _ in messages }
        let worker = try StreamWorker(configuration: w.env.workerConfiguration(), model: w.env.model, logger: logger, shouldStop: { true })
        try worker.run(until: .never)
        #expect(!messages.lines.contains { $0.contains("ready") }, "\(messages.lines)")
        #expect(!messages.lines.contains { $0.contains("track table loaded") })
        #expect(messages.lines.contains { $0.contains("stopped while loading the track table") })
    }
}

/// Keeps every message logged through it, with its level and metadata.
final class LogCapture: LogHandler, @unchecked Sendable {
    /// One logged message.
    struct Entry: Sendable, CustomStringConvertible {
        let level: Logger.Level
        let metadata: Logger.Metadata
        let message: String
        var description: String { "\(level) \(metadata) \(message)" }
    }

    private let stored = Mutex<[Entry]>([])
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(event: LogEvent) {
        let entry = Entry(level: event.level, metadata: event.metadata ?? [:], message: event.message.description)
        stored.withLock { $0.append(entry) }
    }
    /// Messages so far.
    var lines: [String] { stored.withLock { $0.map(\.message) } }
    /// Messages so far, with their level and metadata.
    var entries: [Entry] { stored.withLock { $0 } }
}
