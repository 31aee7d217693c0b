// The real `userrep run` binary, killed with SIGKILL again and again while listens keep arriving.
import Foundation
import Synchronization
import Testing
import UserRepKafka
import UserRepModel
import UserRepPipeline
import UserRepState

@Suite(.serialized) struct CrashLoopTests {
    /// Kills; USERREP_SOAK=N multiplies them for a longer run.
    static let kills = 3 * max(1, Int(ProcessInfo.processInfo.environment["USERREP_SOAK"] ?? "1") ?? 1)

    @Test func repeatedSigkillWhileEventsFlowEndsInTheUninterruptedState() throws {
        let binary = try userrepBinary()
        let w = try Workload(users: 200, tracks: 150, seed: 47)
        defer { w.env.cleanUp() }
        let total = 2_000 * (Self.kills + 1)
        // Listens keep arriving while the worker is killed: a producer thread sends them in bursts.
        let produced = Mutex(0)
        var generator = w.generator
        let events = (0..<total).map { generator.listen(index: $0, total: total) }
        let kafka = w.env.kafka, topic = w.env.topics.listens
        let sender = Thread {
            guard let producer = try? KafkaProducer(configuration: kafka) else { return }
            for (i, e) in events.enumerated() {
                try? producer.produce(topic: topic, key: e.userID, value: e.json())
                if i % 200 == 199 { try? producer.flush(timeoutMs: 30_000); produced.withLock { $0 = i + 1 }; usleep(20_000) }
            }
            try? producer.flush(timeoutMs: 30_000)
            produced.withLock { $0 = events.count }
        }
        sender.start()

        let stateDir = w.env.directory.appendingPathComponent("crashing").path
        let args = ["run", "--bootstrap-servers", w.env.cluster.bootstrapServers, "--model", w.env.manifestURL.path,
                    "--state-dir", stateDir, "--group-id", "crashing", "--max-batch", "100", "--log-level", "error",
                    "-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=500"]
        var rng = SplitMix64(seed: 5)
        let subscriber = try OutputSubscriber(kafka: w.env.kafka, topic: w.env.topics.output, format: .protobuf, batchID: nil, fromBeginning: true)
        var seen = 0
        for kill in 0..<Self.kills {
            let process = try Process.run(binary, arguments: args)
            // A random point: after some more outputs than before.
            let target = seen + 50 + Int(rng.next() % 250)
            let deadline = Date().addingTimeInterval(120)
            while seen < target && process.isRunning && Date() < deadline { seen += try subscriber.poll(timeoutMs: 20).count }
            Foundation.kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            #expect(process.terminationReason == .uncaughtSignal, "kill \(kill + 1): the worker was killed, not finished")
        }
        while produced.withLock({ $0 }) < total { usleep(20_000) }
        let last = try Process.run(binary, arguments: args + ["--stop-when-caught-up"])
        last.waitUntilExit()
        #expect(last.terminationStatus == 0)

        // The uninterrupted run over the same events, into its own state.
        var reference = w.env.workerConfiguration(stateName: "reference")
        reference.groupID = "reference"
        var referenceTopics = w.env.topics
        referenceTopics.output = "reference-output"
        try w.env.cluster.createTopic("reference-output", partitions: 4)
        reference.topics = referenceTopics
        try StreamWorker(configuration: reference, model: w.env.model).run(until: .whenCaughtUp())

        let a = try dumpState(reference.stateDirectory, model: w.env.model)
        let b = try dumpState(stateDir, model: w.env.model)
        #expect(!a.isEmpty && differingUsers(a, b).isEmpty, "state differs for \(differingUsers(a, b).prefix(5))")
        let perUser = Dictionary(grouping: events) { String(decoding: $0.userID, as: UTF8.self) }.mapValues { UInt64($0.count) }
        let counts = Dictionary(uniqueKeysWithValues: b.map { ($0.key.userIDString, $0.value.totalListens) })
        #expect(counts == perUser, "every user's play count equals the listens produced for them")
        let crashed = try latestVectors(w.env.kafka, w.env.topics.output).latest
        let uninterrupted = try latestVectors(w.env.kafka, "reference-output").latest
        #expect(Set(crashed.keys) == Set(uninterrupted.keys))
        // Same state, same update sequence; the vector may differ in the last bits only, because
        // BLAS sums a row in an order that depends on the batch it is computed in.
        var worst = 0.0
        var sequenceMismatches: [String] = []
        for (user, record) in crashed {
            guard let other = uninterrupted[user] else { continue }
            if record.updateSequence != other.updateSequence { sequenceMismatches.append(user) }
            for (x, y) in zip(record.vector, other.vector) { worst = max(worst, Double(abs(x - y)) / max(1, Double(abs(y)))) }
        }
        #expect(sequenceMismatches.isEmpty, "final update sequences differ for \(sequenceMismatches.sorted().prefix(5))")
        #expect(worst <= 1e-5, "final vectors differ by up to \(worst) (relative)")
    }
}
