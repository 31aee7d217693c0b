// The worker end to end on the embedded cluster, checked against an independent recomputation.
import Foundation
import Synchronization
import Testing
import UserRepKafka
import UserRepModel
@testable import UserRepPipeline
import UserRepTesting
import UserRepState

@Suite(.serialized) struct EndToEndTests {
    @Test func everyUsersLastVectorEqualsNaiveRecomputation() throws {
        var w = try Workload(users: 300, tracks: 200)
        defer { w.env.cleanUp() }
        try w.produceListens(4_000)
        var config = try w.env.workerConfiguration()
        config.maxPollRecords = 700
        let afterCycle = CallCount()
        config.afterCycle = { afterCycle.increment() }
        let metrics = try w.runToEnd(config)
        #expect(metrics.cycles > 3, "the run spanned several cycles")
        #expect(afterCycle.value == metrics.cycles, "the after-cycle hook ran once per cycle")
        try expectLatestVectorsMatchNaive(w, metrics)
    }

    /// Cycles of thousands of records, parsed in chunks of 500, every stage on three threads.
    @Test func largeCyclesOnSeveralThreadsEqualNaiveRecomputation() throws {
        var w = try Workload(users: 300, tracks: 200, seed: 31)
        defer { w.env.cleanUp() }
        try w.produceListens(10_000)
        var config = try w.env.workerConfiguration()
        config.computeThreads = 3
        config.parseChunkRecords = 500
        let metrics = try w.runToEnd(config)
        #expect(metrics.recordsRead > 2 * 500 * metrics.cycles, "cycles average several parse chunks (\(metrics.cycles) cycles)")
        try expectLatestVectorsMatchNaive(w, metrics)
    }

    /// `cycleLingerMs`: cycles start at least that far apart, so listens that arrive in 60 small
    /// bursts over several seconds make a few cycles (without it, about one a burst: 30–50 here),
    /// and the vectors are the same.
    @Test func cycleLingerGathersBurstsIntoFewerCyclesWithTheSameVectors() throws {
        var w = try Workload(users: 300, tracks: 200, seed: 37)
        defer { w.env.cleanUp() }
        let events = (0..<1_200).map { w.generator.listen(index: $0, total: 1_200) }
        w.listens = events
        var config = try w.env.workerConfiguration()
        config.cycleLingerMs = 2_000
        let started = ContinuousClock.now
        let sender = BurstSender(kafka: w.env.kafka, topic: w.env.topics.listens, events: events, burst: 20, pauseMicroseconds: 100_000)
        let metrics = try StreamWorker(configuration: config, model: w.env.model).run(until: .whenCaughtUp(gate: { sender.isDone }))
        let seconds = (ContinuousClock.now - started) / .seconds(1)
        #expect(metrics.listensApplied == 1_200)
        // At most one cycle begins in any two seconds of the run.
        #expect(metrics.cycles >= 1 && Double(metrics.cycles) <= seconds / 2 + 1, "\(metrics.cycles) cycles in \(seconds) s")
        try expectLatestVectorsMatchNaive(w, metrics)
    }

    /// `onCaughtUp` splits a run where `.whenCaughtUp()` would have stopped (no timers due): the
    /// backlog's metrics go to it, and `run` returns those of the listens produced after it, with
    /// latency samples for them alone; the vectors are those of one uninterrupted run.
    @Test func onCaughtUpSplitsTheRunsMetricsAtTheEndOfTheBacklog() throws {
        var w = try Workload(users: 300, tracks: 200, seed: 41)
        defer { w.env.cleanUp() }
        let total = 4_000, backlogCount = 3_000
        w.listens = (0..<total).map { w.generator.listen(index: $0, total: total) }
        let producer = try KafkaProducer(configuration: w.env.kafka)
        func produce(_ range: Range<Int>) throws {
            for e in w.listens[range] { try producer.produce(topic: w.env.topics.listens, key: e.userID, value: e.json()) }
            try producer.flush(timeoutMs: 30_000)
        }
        try produce(0..<backlogCount)
        var config = try w.env.workerConfiguration()
        config.maxPollRecords = 500
        let worker = try StreamWorker(configuration: config, model: w.env.model)
        var backlog: [WorkerMetrics] = []
        let liveProduced = Mutex(false)
        let listens = w.listens, topic = w.env.topics.listens
        worker.onCaughtUp = { [unowned worker] m in
            backlog.append(m)
            worker.recordLatency = true
            do {
                #expect(try !worker.timersDue(), "no timer is due when the backlog ends")
                for e in listens[backlogCount...] { try producer.produce(topic: topic, key: e.userID, value: e.json()) }
                try producer.flush(timeoutMs: 30_000)
            } catch { Issue.record("\(error)") }
            liveProduced.withLock { $0 = true }
        }
        let rest = try worker.run(until: .whenCaughtUp(gate: { liveProduced.withLock { $0 } }))
        try #require(backlog.count == 1, "called once")
        let b = backlog[0]
        #expect(b.recordsRead == backlogCount && b.listensApplied == backlogCount && b.cycles >= 6)
        #expect(rest.recordsRead == total - backlogCount && rest.listensApplied == total - backlogCount && rest.cycles >= 1)
        #expect(b.latencySamplesMs.isEmpty && rest.latencySamplesMs.count == total - backlogCount)
        #expect(b.stateBytesWritten > 0 && rest.stateBytesWritten > 0 && rest.stateBytesWritten < b.stateBytesWritten)
        #expect(b.processingSeconds > 0 && rest.processingSeconds > 0 && b.outputsPublished > 0 && rest.outputsPublished > 0)
        var whole = rest
        whole.listensApplied += b.listensApplied
        whole.outputsPublished += b.outputsPublished
        try expectLatestVectorsMatchNaive(w, whole)
    }

    /// `--max-cycle-state-mb` cuts the polls that follow a cycle over it, and the smaller cycles
    /// end in the same vectors.
    @Test func aCycleStateBoundSplitsTheBacklogIntoMoreCyclesWithTheSameVectors() throws {
        var w = try Workload(users: 300, tracks: 200, seed: 37)
        defer { w.env.cleanUp() }
        try w.produceListens(10_000)
        var bounded = try w.env.workerConfiguration(stateName: "bounded", groupID: "bounded")
        bounded.maxCycleStateBytes = 48 << 10
        // The first poll is cut by records alone (one that found the whole backlog fetched already,
        // on a loaded machine, made it a single cycle); after it, the state bound cuts the polls.
        bounded.maxPollRecords = 1_000
        let metrics = try w.runToEnd(bounded)
        try expectLatestVectorsMatchNaive(w, metrics)

        var unbounded = try w.env.workerConfiguration(stateName: "unbounded", groupID: "unbounded")
        unbounded.maxCycleStateBytes = 0
        let reference = try w.runToEnd(unbounded)
        #expect(reference.listensApplied == metrics.listensApplied)
        #expect(
            reference.largestCycleStateBytes > 4 * bounded.maxCycleStateBytes,
            "unbounded, a cycle writes far more than the bound (\(reference.largestCycleStateBytes) bytes)")
        #expect(
            metrics.cycles >= 4 * max(reference.cycles, 10_000 / bounded.maxPollRecords),
            "bounded: \(metrics.cycles) cycles, largest \(metrics.largestCycleStateBytes) bytes; unbounded: \(reference.cycles)")
        let a = try dumpState(bounded.stateDirectory, model: w.env.model)
        let b = try dumpState(unbounded.stateDirectory, model: w.env.model)
        #expect(a.count == 300 && differingUsers(a, b).isEmpty, "the states differ for users \(differingUsers(a, b).prefix(5))")
    }

    /// Every listen applied once, one output per update, and every user's last vector equal to
    /// the naive recomputation from their raw listens.
    func expectLatestVectorsMatchNaive(_ w: Workload, _ metrics: WorkerMetrics) throws {
        #expect(metrics.listensApplied == w.listens.count)
        #expect(metrics.deadLetterTotal == 0)
        let (all, latest) = try latestVectors(w.env.kafka, w.env.topics.output)
        #expect(all.count == metrics.outputsPublished, "records on the topic match the updates published")
        let byUser = Dictionary(grouping: w.listens) { String(decoding: $0.userID, as: UTF8.self) }
        #expect(Set(latest.keys) == Set(byUser.keys), "every user with listens has a vector")

        let naive = try NaiveModel(manifestURL: w.env.manifestURL, tracks: w.generator.trackRecords())
        var worst = 0.0
        for (user, events) in byUser {
            guard let record = latest[user] else { continue }
            #expect(record.updateSequence == UInt64(events.count))
            #expect(record.eventTimeMs == events.map(\.timestampMs).max())
            #expect(record.batchID == w.env.model.batchID && record.embeddingBatchID == w.generator.settings.embeddingBatchID)
            let expected = try naive.vector(for: events)
            #expect(record.vector.count == 120)
            for (got, want) in zip(record.vector, expected) {
                worst = max(worst, abs(Double(got) - want) / max(1, abs(want)))
            }
        }
        #expect(worst <= 1e-4, "largest relative difference \(worst)")
        try w.env.verifyNothingDropped()
    }

    @Test func stoppedAndRestartedWorkerEndsInUninterruptedState() throws {
        var w = try Workload(users: 200, tracks: 150, seed: 11)
        defer { w.env.cleanUp() }
        try w.produceListens(3_000)
        var reference = try w.env.workerConfiguration(stateName: "reference", groupID: "reference")
        reference.maxPollRecords = 400
        try w.runToEnd(reference)

        var interrupted = try w.env.workerConfiguration(stateName: "interrupted", groupID: "interrupted")
        interrupted.maxPollRecords = 400
        for stopAfter in [700, 1_500] {
            let m = try StreamWorker(configuration: interrupted, model: w.env.model).run(
                until: .afterRecords(stopAfter - (stopAfter == 700 ? 0 : 700)))
            #expect(m.recordsRead < 3_000, "stopped midway")
        }
        try w.runToEnd(interrupted)

        let a = try dumpState(reference.stateDirectory, model: w.env.model)
        let b = try dumpState(interrupted.stateDirectory, model: w.env.model)
        #expect(a.count == 200 || a.count == Set(w.listens.map(\.userID)).count)
        #expect(!a.isEmpty && differingUsers(a, b).isEmpty, "state after stop/restart differs for users \(differingUsers(a, b).prefix(5))")
        #expect(b.values.reduce(0) { $0 + $1.totalListens } == 3_000, "every listen counted exactly once")
    }

    @Test func killedWorkerProcessResumesToUninterruptedState() throws {
        let binary = try userrepBinary()
        var w = try Workload(users: 200, tracks: 150, seed: 13)
        defer { w.env.cleanUp() }
        try w.produceListens(6_000)
        let reference = try w.env.workerConfiguration(stateName: "reference", groupID: "reference")
        try w.runToEnd(reference)

        let stateDir = w.env.directory.appendingPathComponent("killed").path
        try w.env.ensureChangelog(groupID: "killed")
        // Kill it once its state holds some but not all listens.
        try killOnceThenFinish(
            binary, workerArguments(w.env, group: "killed", state: "killed", maxPollRecords: 150), env: w.env, afterOutputs: 300)

        let a = try dumpState(reference.stateDirectory, model: w.env.model)
        let b = try dumpState(stateDir, model: w.env.model)
        #expect(
            !a.isEmpty && differingUsers(a, b).isEmpty,
            "state after SIGKILL and restart differs for users \(differingUsers(a, b).prefix(5))")
        #expect(b.values.reduce(0) { $0 + $1.totalListens } == 6_000)
    }

    @Test func backfillPublishesEachTouchedUsersFinalVectorOnce() throws {
        var w = try Workload(users: 150, tracks: 120, seed: 17)
        defer { w.env.cleanUp() }
        try w.env.createTopic("replay", partitions: 3)
        try w.produceListens(2_500, topic: "replay")
        var config = try w.env.workerConfiguration(stateName: "backfill")
        config.maxPollRecords = 300
        var lines: [String] = []
        let worker = try StreamWorker(configuration: config, model: w.env.model, mode: .backfill(topic: "replay"))
        worker.progress = { lines.append($0) }
        let m = try worker.run()
        #expect(m.listensApplied == 2_500)
        #expect(lines.last?.contains("2500/2500 events (100%)") == true, "progress: \(lines.last ?? "none")")

        let (all, latest) = try latestVectors(w.env.kafka, w.env.topics.output)
        let users = Set(w.listens.map { String(decoding: $0.userID, as: UTF8.self) })
        #expect(all.count == users.count, "one vector per touched user")
        #expect(Set(latest.keys) == users)
        #expect(all.allSatisfy { $0.trigger == .backfill })
        let naive = try NaiveModel(manifestURL: w.env.manifestURL, tracks: w.generator.trackRecords())
        let byUser = Dictionary(grouping: w.listens) { String(decoding: $0.userID, as: UTF8.self) }
        for record in all {
            let expected = try naive.vector(for: byUser[record.userID] ?? [])
            let worst = zip(record.vector, expected).map { abs(Double($0) - $1) / max(1, abs($1)) }.max() ?? 0
            #expect(worst <= 1e-4)
        }
    }

    /// A backfill stopped half-way and resumed publishes every user of its state at the end, also
    /// those whose listens all came before the stop.
    @Test func aResumedBackfillPublishesEveryUserOnce() throws {
        var w = try Workload(users: 150, tracks: 120, seed: 19)
        defer { w.env.cleanUp() }
        try w.env.createTopic("replay", partitions: 3)
        let events = (0..<2_000).map { w.generator.listen(index: $0, total: 2_000) }
        // The first half's users never listen again in the second.
        let ids = Array(Set(events.map(\.userID))).sorted { $0.lexicographicallyPrecedes($1) }
        let early = Set(ids.prefix(ids.count / 2))
        let ordered = events.filter { early.contains($0.userID) } + events.filter { !early.contains($0.userID) }
        let producer = try KafkaProducer(configuration: w.env.kafka)
        for e in ordered { try producer.produce(topic: "replay", key: e.userID, value: e.json()) }
        try producer.flush(timeoutMs: 30_000)
        var config = try w.env.workerConfiguration(stateName: "backfill")
        config.maxPollRecords = 100
        config.backfillPublishes = false
        let firstPart = events.filter { early.contains($0.userID) }.count
        _ = try StreamWorker(configuration: config, model: w.env.model, mode: .backfill(topic: "replay")).run(
            until: .afterRecords(firstPart / 2))
        config.backfillPublishes = true
        let m = try StreamWorker(configuration: config, model: w.env.model, mode: .backfill(topic: "replay")).run()
        #expect(m.listensApplied < events.count, "the second run resumed")
        let (all, latest) = try latestVectors(w.env.kafka, w.env.topics.output)
        #expect(
            all.count == ids.count && Set(latest.keys) == Set(ids.map { String(decoding: $0, as: UTF8.self) }),
            "one vector per user: \(all.count) of \(ids.count)")
        let perUser = Dictionary(grouping: events) { String(decoding: $0.userID, as: UTF8.self) }
        #expect(all.allSatisfy { UInt64(perUser[$0.userID]?.count ?? 0) == $0.updateSequence }, "each as of all its listens")
    }
}

/// Counts calls from any thread.
final class CallCount: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0

    func increment() { lock.withLock { count += 1 } }

    var value: Int { lock.withLock { count } }
}
