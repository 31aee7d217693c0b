// Shared helpers of the end-to-end tests: a small embedded setup and independent recomputation.
import Foundation
import Synchronization
import Testing
import UserRepKafka
import UserRepModel
import UserRepPipeline
import UserRepTesting
import UserRepState

/// Produces listens from a background thread in bursts, so workers see them arrive over time.
/// With `holds`, it stops before each of those indexes until `release()` is called.
final class BurstSender: Sendable {
    private let produced = Mutex(0)
    private let released = Mutex(0)
    /// Listens to send, in order.
    let events: [ListenEvent]

    init(
        kafka: KafkaConfiguration, topic: String, events: [ListenEvent], holds: [Int] = [], burst: Int = 200,
        pauseMicroseconds: UInt32 = 20_000
    ) {
        self.events = events
        let thread = Thread { [self] in
            guard let producer = try? KafkaProducer(configuration: kafka) else { return }
            for (i, e) in events.enumerated() {
                if let hold = holds.firstIndex(of: i) {
                    try? producer.flush(timeoutMs: 30_000)
                    produced.withLock { $0 = i }
                    while released.withLock({ $0 }) <= hold { usleep(10_000) }
                }
                try? producer.produce(topic: topic, key: e.userID, value: e.json())
                if i % burst == burst - 1 {
                    try? producer.flush(timeoutMs: 30_000)
                    produced.withLock { $0 = i + 1 }
                    usleep(pauseMicroseconds)
                }
            }
            try? producer.flush(timeoutMs: 30_000)
            produced.withLock { $0 = events.count }
        }
        thread.start()
    }

    /// Lets the sender continue past its next hold.
    func release() { released.withLock { $0 += 1 } }

    /// Whether every listen has been delivered.
    var isDone: Bool { produced.withLock { $0 } >= events.count }

    /// Blocks until every listen has been delivered.
    func waitUntilDone() { while produced.withLock({ $0 }) < events.count { usleep(20_000) } }

    /// Listens produced per user id.
    var perUser: [String: UInt64] {
        Dictionary(grouping: events) { String(decoding: $0.userID, as: UTF8.self) }.mapValues { UInt64($0.count) }
    }
}

/// Arguments of a `userrep run` process on the workload's cluster, in group `group`, with state
/// in the scratch directory's `state` folder (or at `stateDirectory`).
func workerArguments(
    _ env: EmbeddedEnvironment, group: String, state: String, stateDirectory: URL? = nil, maxPollRecords: Int = 100,
    logLevel: String = "warning"
) -> [String] {
    [
        "run", "--bootstrap-servers", env.bootstrapServers, "--model", env.manifestURL.path,
        "--state-dir", (stateDirectory ?? env.directory.appendingPathComponent(state)).path, "--group-id", group, "--max-poll-records",
        String(maxPollRecords),
        "--log-level", logLevel, "-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=500",
    ]
}

/// Runs an uninterrupted in-process worker over everything on the input topics, in group
/// "reference" with state "reference" and its own output topic "reference-output".
func runReference(_ env: EmbeddedEnvironment) throws -> WorkerConfiguration {
    var reference = try env.workerConfiguration(stateName: "reference", groupID: "reference")
    reference.topics.output = "reference-output"
    try env.createTopic("reference-output", partitions: env.partitions)
    try StreamWorker(configuration: reference, model: env.model).run(until: .whenCaughtUp())
    return reference
}

/// The consumer group's committed next offset per partition of `topic`.
func committedOffsets(_ kafka: KafkaConfiguration, group: String, topic: String, partitions: Int) throws -> [Int32: Int64] {
    let consumer = try KafkaConsumer(configuration: kafka.overriding(["group.id": group]))
    defer { consumer.close() }
    let tps = (0..<Int32(partitions)).map { KafkaTopicPartition(topic: topic, partition: $0) }
    return Dictionary(uniqueKeysWithValues: try consumer.committed(tps).map { ($0.key.partition, $0.value) })
}

/// Runs `userrep` with `args`, SIGKILLs it once `outputs` vectors are on the output topic, then runs
/// it again with `--stop-when-caught-up`; expects the first to die by the signal and the second to
/// finish with status 0.
func killOnceThenFinish(_ binary: URL, _ args: [String], env: EmbeddedEnvironment, afterOutputs outputs: Int) throws {
    let first = try Process.run(binary, arguments: args)
    let subscriber = try OutputSubscriber(kafka: env.kafka, topic: env.topics.output, format: .protobuf, batchID: nil, fromBeginning: true)
    var seen = 0
    let deadline = Date().addingTimeInterval(120)
    while seen < outputs && first.isRunning && Date() < deadline { seen += try subscriber.poll(timeoutMs: 50).count }
    kill(first.processIdentifier, SIGKILL)
    first.waitUntilExit()
    #expect(first.terminationReason == .uncaughtSignal, "the worker was killed, not finished")
    let second = try Process.run(binary, arguments: args + ["--stop-when-caught-up"])
    second.waitUntilExit()
    #expect(second.terminationStatus == 0)
}

/// Runs the `userrep` binary to completion; returns its exit status and combined output.
func runUserrep(_ arguments: [String]) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = try userrepBinary()
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// Expects the state stores in `directory` and `referenceDirectory` to hold the same, non-empty,
/// user states.
func expectSameStates(_ directory: String, as referenceDirectory: String, model: EncoderModel, sourceLocation: SourceLocation = #_sourceLocation)
    throws
{
    let a = try dumpState(referenceDirectory, model: model)
    let b = try dumpState(directory, model: model)
    #expect(!a.isEmpty && differingUsers(a, b).isEmpty, "state differs for \(differingUsers(a, b).prefix(5))", sourceLocation: sourceLocation)
}
