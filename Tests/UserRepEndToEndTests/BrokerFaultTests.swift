// The worker rides out broker outages and request errors and still ends in the undisturbed state.
import Foundation
import Synchronization
import Testing
import UserRepKafka
import UserRepPipeline
import UserRepTesting
import UserRepState

@Suite(.serialized) struct BrokerFaultTests {
    /// 3,000 listens of 150 users on 3 partitions, and an undisturbed worker's run over them.
    func workloadWithReference(seed: UInt64) throws -> (Workload, reference: WorkerConfiguration) {
        var w = try Workload(users: 150, tracks: 100, partitions: 3, seed: seed)
        try w.produceListens(3_000)
        let reference = try w.env.workerConfiguration(stateName: "reference", groupID: "reference")
        try w.runToEnd(reference)
        return (w, reference)
    }

    @Test func brokerDownLeaderChangesAndRequestErrorsLeaveTheFinalStateUnchanged() throws {
        let (w, reference) = try workloadWithReference(seed: 41)
        defer { w.env.cleanUp() }

        // Transient errors queued for the next requests of each kind: Produce (0), Fetch (1),
        // OffsetCommit (8); codes are retriable ones (NOT_LEADER 6, REQUEST_TIMED_OUT 7,
        // COORDINATOR_NOT_AVAILABLE 15).
        w.env.cluster!.pushRequestErrors(apiKey: 0, errors: [6, 7, 6])
        w.env.cluster!.pushRequestErrors(apiKey: 1, errors: [6, 7])
        w.env.cluster!.pushRequestErrors(apiKey: 8, errors: [15, 15])
        // ListOffsets (2), used by the restore's and the consumer's offset lookups: NOT_LEADER (6) twice.
        w.env.cluster!.pushRequestErrors(apiKey: 2, errors: [6, 6])
        var faulty = try w.env.workerConfiguration(stateName: "faulty", groupID: "faulty")
        faulty.maxPollRecords = 200
        let cycles = Mutex(0)
        let cluster = w.env.cluster!
        let moved = [w.env.topics.listens, w.env.topics.output, faulty.changelogTopic]
        // Take a broker down once the worker is under way, bring it back a little later, then
        // move the leader of every input, output and changelog partition to another broker.
        let outage = Thread {
            while cycles.withLock({ $0 }) < 3 { usleep(10_000) }
            cluster.setBrokerDown(2)
            usleep(1_500_000)
            cluster.setBrokerUp(2)
            while cycles.withLock({ $0 }) < 6 { usleep(10_000) }
            for topic in moved {
                for p in Int32(0)..<3 {
                    cluster.setPartitionLeader(KafkaTopicPartition(topic: topic, partition: p), broker: (p + 1) % 3 + 1)
                }
            }
        }
        outage.start()
        // The worker is released at the end of the statement, closing its state store.
        let m = try StreamWorker(
            configuration: faulty, model: w.env.model,
            shouldStop: {
                cycles.withLock { $0 += 1 }
                return false
            }
        ).run(until: .whenCaughtUp())
        #expect(m.listensApplied == 3_000)
        #expect(m.cycles >= 6, "the outage and the leader changes happened while the worker was running")

        try expectSameStates(faulty.stateDirectory, as: reference.stateDirectory, model: w.env.model)
        try w.env.verifyNothingDropped()
    }

    /// A cycle whose changelog records were delivered and whose outputs were not fails; the
    /// restart restores those states from the changelog, so the re-read listens are duplicates
    /// to them, and it must publish those users' vectors all the same (outputs are at least once).
    @Test func outputsOfACycleThatFailedAfterItsChangelogAreRepublishedByTheRedo() throws {
        var w = try Workload(users: 60, tracks: 50, partitions: 3, seed: 53)
        defer { w.env.cleanUp() }
        try w.produceListens(600)
        let cluster = w.env.cluster!
        var config = try w.env.workerConfiguration(stateName: "failing", groupID: "failing")
        config.deliveryTimeoutMs = 3_000
        try w.env.separateOutputs(onBroker: 3, from: config)
        cluster.setBrokerDown(3)
        #expect(throws: (any Error).self, "the cycle fails: its outputs cannot be delivered") { try w.runToEnd(config) }
        let changelog = try changelogStates(w.env.kafka, config.changelogTopic, model: w.env.model)
        #expect(!changelog.isEmpty, "the failed cycle's changelog records were delivered")

        cluster.setBrokerUp(3)
        config.deliveryTimeoutMs = 60_000
        let m = try w.runToEnd(config)
        #expect(m.listensApplied + m.duplicatesSkipped == 600)
        #expect(m.duplicatesSkipped > 0, "the restart restored the failed cycle's states and re-read its listens")
        let reference = try runReference(w.env)
        let vectors = try compareFinalVectors(w.env.kafka, w.env.topics.output, reference.topics.output)
        #expect(vectors.sameUsers, "every user's vector is published")
        #expect(vectors.sequenceMismatches.isEmpty, "final update sequences differ for \(vectors.sequenceMismatches.prefix(5))")
        #expect(vectors.worst <= 1e-5)
    }

    /// Produce requests refused for good (MESSAGE_TOO_LARGE, 10: a topic whose size limit is below
    /// the producer's batches) fail the cycle whose records they carried. The producer must then
    /// deliver none of the cycle's later batches to the same changelog partitions: a user's head
    /// delivered without the tile records before it is a state that no restore can read, and
    /// every restart would stop at it. Each start meets one refusal (the producer stops at it)
    /// until the injected ones are used up; then the worker ends in the undisturbed state.
    @Test func produceRequestsRefusedForGoodLeaveNoHeadWithoutItsTiles() throws {
        let (w, reference) = try workloadWithReference(seed: 59)
        defer { w.env.cleanUp() }

        var config = try w.env.workerConfiguration(stateName: "faulty", groupID: "faulty")
        // Small batches: a cycle's changelog records of a partition go out in several requests.
        config.kafka = config.kafka.overriding(["batch.num.messages": "20"])
        w.env.cluster!.pushRequestErrors(apiKey: 0, errors: [10, 10, 10])
        var failures: [String] = []
        var finished: WorkerMetrics?
        for _ in 0..<4 where finished == nil {
            do { finished = try w.runToEnd(config) } catch { failures.append("\(error)") }
        }
        #expect(!failures.isEmpty && failures.allSatisfy { $0.contains("Message size too large") }, "\(failures)")
        guard let m = finished else { return }
        #expect(m.listensApplied + m.duplicatesSkipped == 3_000)
        try expectSameStates(config.stateDirectory, as: reference.stateDirectory, model: w.env.model)
    }

    /// librdkafka does not time records out itself (the records of a partition after a timed-out
    /// one would still be delivered, past the gap): a `-X message.timeout.ms` bounds the worker's
    /// own delivery wait instead, which gives up on the whole cycle. The output broker is down, so
    /// the cycle cannot finish; it must fail by the worker's wait, not by librdkafka's timeout.
    @Test func aRecordTimeoutBoundsTheWorkersDeliveryWaitInsteadOfLibrdkafkas() throws {
        var w = try Workload(users: 30, tracks: 30, partitions: 3, seed: 61)
        defer { w.env.cleanUp() }
        try w.produceListens(300)
        var config = try w.env.workerConfiguration(stateName: "timeout", groupID: "timeout")
        config.kafka = config.kafka.overriding(["message.timeout.ms": "2000"])
        try w.env.separateOutputs(onBroker: 3, from: config)
        w.env.cluster!.setBrokerDown(3)
        let error = #expect(throws: KafkaError.self, "the cycle cannot be delivered") { try w.runToEnd(config) }
        #expect(error?.isTimeout == true && "\(error.map { "\($0)" } ?? "")".contains("producer flush did not complete"), "\(String(describing: error))")
    }

    /// Waits for `condition` with a generous deadline; the deadline only bounds a hung test.
    func eventually(_ what: String, within seconds: Double = 60, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while !condition() {
            if Date() > deadline { Issue.record("timed out waiting until \(what)"); return false }
            usleep(20_000)
        }
        return true
    }

    @Test func unreachableClusterMakesWorkerNotReadyUntilItReturns() throws {
        var w = try Workload(users: 50, tracks: 50, partitions: 3, seed: 43)
        defer { w.env.cleanUp() }
        try w.produceListens(500)
        var config = try w.env.workerConfiguration()
        config.unreachableTimeoutMs = 1_500
        let readyFile = w.env.directory.appendingPathComponent("ready").path
        config.readyFile = readyFile
        let model = w.env.model
        let settings = config
        let finish = Mutex(false)
        let result = Mutex<WorkerMetrics?>(nil)
        let failure = Mutex<String?>(nil)
        let thread = Thread {
            do {
                let m = try StreamWorker(configuration: settings, model: model).run(until: .whenCaughtUp(gate: { finish.withLock { $0 } }))
                result.withLock { $0 = m }
            } catch { failure.withLock { $0 = "\(error)" } }
        }
        thread.start()
        let exists = { FileManager.default.fileExists(atPath: readyFile) }
        guard eventually("the worker is ready", exists) else { return }
        for broker in Int32(1)...3 { w.env.cluster!.setBrokerDown(broker) }
        guard eventually("the worker reports not ready", { !exists() }) else { return }
        for broker in Int32(1)...3 { w.env.cluster!.setBrokerUp(broker) }
        guard eventually("the worker is ready again", exists) else { return }
        let producer = try KafkaProducer(configuration: w.env.kafka)
        for i in 0..<300 {
            let e = ListenEvent(
                userID: Array("u\(i % 50)".utf8), trackID: Array("t\(i % 50)".utf8), timestampMs: 1_790_000_000_000 + Int64(i))
            try producer.produce(topic: w.env.topics.listens, key: e.userID, value: e.json())
        }
        try producer.flush(timeoutMs: 30_000)
        finish.withLock { $0 = true }
        guard eventually("the worker finishes", { result.withLock { $0 } != nil || failure.withLock { $0 } != nil }) else { return }
        #expect(failure.withLock { $0 } == nil, "worker failed: \(failure.withLock { $0 } ?? "")")
        #expect(result.withLock { $0 }?.listensApplied == 800, "every listen before, during and after the outage is applied once")
        #expect(!exists(), "the ready file is removed on shutdown")
    }
}
