// Event-time timers end to end: silent users' windows age with their partition's watermark.
import Foundation
import Synchronization
import Testing
import UserRepKafka
import UserRepModel
@testable import UserRepPipeline
import UserRepTesting
import UserRepState

@Suite(.serialized) struct WindowTimerTests {
    /// `silent` users listen on day 0 only, the others once a day for `days` days; arrival in time order.
    static func silentAndActive(_ w: inout Workload, silent: Int, active: Int, days: Int) -> [ListenEvent] {
        let day = Horizon.dayMs
        let t0 = w.generator.settings.endTimeMs - 60 * day
        var events: [ListenEvent] = []
        for u in 0..<silent { for k in 0..<3 { events.append(w.generator.listen(user: u, timeMs: t0 + Int64(k * 3_600_000 + u * 1_000))) } }
        for d in 0...days {
            for u in silent..<(silent + active) {
                events.append(w.generator.listen(user: u, timeMs: t0 + Int64(d) * day + Int64(u * 60_000)))
            }
        }
        return events.sorted { $0.timestampMs < $1.timestampMs }
    }

    /// A workload of `silent` + `active` users on `partitions` partitions whose listens
    /// (`silentAndActive`) are on the listens topic.
    static func produced(users silent: Int, active: Int, days: Int, partitions: Int, seed: UInt64) throws -> Workload {
        var w = try Workload(users: silent + active, tracks: 150, partitions: partitions, seed: seed)
        w.listens = silentAndActive(&w, silent: silent, active: active, days: days)
        let producer = try KafkaProducer(configuration: w.env.kafka)
        for e in w.listens { try producer.produce(topic: w.env.topics.listens, key: e.userID, value: e.json()) }
        try producer.flush(timeoutMs: 30_000)
        return w
    }

    /// Each partition's watermark (newest event time of its users) and each user's key, from a state dump.
    static func watermarks(_ states: [UserKey: UserState]) -> [Int32: Int64] {
        var marks: [Int32: Int64] = [:]
        for (key, state) in states { marks[key.partition] = max(marks[key.partition] ?? Int64.min, state.newestEventTimeMs) }
        return marks
    }

    /// By the output contract, every user's kept record equals the naive recomputation as of its own
    /// event time, and covers every window change up to the partition's final watermark. Returns the
    /// kept records.
    @discardableResult
    static func expectAgedVectors(_ w: Workload, topic: String, states: [UserKey: UserState]) throws -> [String: RepresentationRecord] {
        let (all, _) = try latestVectors(w.env.kafka, topic)
        let kept = latestByContract(all)
        let marks = watermarks(states)
        let naive = try NaiveModel(manifestURL: w.env.manifestURL, tracks: w.generator.trackRecords())
        let byUser = Dictionary(grouping: w.listens) { String(decoding: $0.userID, as: UTF8.self) }
        var worst = 0.0
        for (key, state) in states {
            guard let record = kept[key.userIDString], let watermark = marks[key.partition] else {
                Issue.record("no vector for \(key.userIDString)")
                continue
            }
            #expect(record.updateSequence == state.updateSequence)
            let expected = try naive.vector(for: byUser[key.userIDString] ?? [], asOf: record.eventTimeMs)
            for (got, want) in zip(record.vector, expected) { worst = max(worst, abs(Double(got) - want) / max(1, abs(want))) }
            // No window change between the record's time and the watermark is left unpublished.
            if let next = state.tiles.nextChange(after: record.eventTimeMs, horizons: Horizon.all) {
                #expect(
                    next > watermark,
                    "\(key.userIDString): a window changed at \(next), before the watermark \(watermark), after its vector")
            }
            if record.trigger == .windowExpiry { #expect(record.eventTimeMs <= watermark && record.eventTimeMs > state.newestEventTimeMs) }
        }
        #expect(worst <= 1e-4, "largest relative difference \(worst)")
        return kept
    }

    /// With the input in as few cycles as the worker likes, and in cycles of at most 40 records
    /// (then the timer fires at the watermark of the cycle that passes the week, not the last).
    @Test(arguments: [nil, 40]) func silentUserGetsTheVectorAtTheWatermark(maxPollRecords: Int?) throws {
        let w = try Self.produced(users: 1, active: 39, days: 10, partitions: 2, seed: 51)
        defer { w.env.cleanUp() }
        var config = try w.env.workerConfiguration()
        if let maxPollRecords { config.maxPollRecords = maxPollRecords }
        let m = try w.runToEnd(config)
        #expect(m.timersFired > 0)

        let states = try dumpState(config.stateDirectory, model: w.env.model)
        let kept = try Self.expectAgedVectors(w, topic: w.env.topics.output, states: states)
        // The silent user: eight or more days of event time later, the vector has aged to an empty
        // 1-week window. It is as of the watermark at which its timer fired: the final one when the
        // whole input came in one cycle, else that of the cycle that passed the week (the windows
        // are the same at both, as `expectAgedVectors` checked).
        guard let (key, state) = states.first(where: { $0.key.userIDString == "u0" }), let record = kept["u0"],
            let watermark = Self.watermarks(states)[key.partition]
        else {
            Issue.record("u0 missing")
            return
        }
        #expect(watermark - state.newestEventTimeMs > 8 * Horizon.dayMs)
        #expect(record.trigger == .windowExpiry && record.eventTimeMs <= watermark && record.updateSequence == 3)
        for at in [record.eventTimeMs, watermark] {
            let windows = state.tiles.aggregate(horizons: [.week, .month], at: at)
            #expect(windows[0].count == 0 && windows[1].count == 3, "at \(at): 1-week window empty, 1-month window still holds the listens")
        }
        // Nothing is due any more on any partition.
        let store = try StateStore(
            directory: config.stateDirectory, embeddingBatchID: w.env.model.manifest.embeddingBatchId, width: w.env.model.layout.listenWidth
        )
        for (p, mark) in Self.watermarks(states) { #expect(try store.dueTimers(partition: p, upTo: mark, limit: 10).isEmpty) }
    }

    /// A process that dies after a timer step's records are committed (in Kafka) but before its
    /// timers are (in RocksDB) leaves the fired timers in the index. Here the first run fires every
    /// timer, then the first timer of each silent user is put back as such a leftover: the restart
    /// drops them as stale (the last fired time is past them), publishing nothing again.
    @Test func aTimerLeftOverFromACommittedStepDoesNotFireAgain() throws {
        let w = try Self.produced(users: 20, active: 20, days: 10, partitions: 2, seed: 57)
        defer { w.env.cleanUp() }
        let config = try w.env.workerConfiguration()
        let m1 = try w.runToEnd(config)
        #expect(m1.timersFired >= 20)
        let states = try dumpState(config.stateDirectory, model: w.env.model)
        let marks = Self.watermarks(states)
        var leftovers = 0
        do {
            let store = try StateStore(
                directory: config.stateDirectory, embeddingBatchID: w.env.model.manifest.embeddingBatchId,
                width: w.env.model.layout.listenWidth)
            let silent = states.filter { Int($0.key.userIDString.dropFirst()).map { $0 < 20 } ?? false }
            let fired = try store.firedAsOf(Array(silent.keys))
            var changes: [TimerChange] = []
            for ((user, state), firedAt) in zip(silent, fired) {
                guard let first = state.nextWindowChange(), let firedAt, first <= firedAt else { continue }
                changes.append(TimerChange(user: user, old: nil, new: first))
            }
            try store.commitTimers(changes)
            for (p, mark) in marks { leftovers += try store.dueTimers(partition: p, upTo: mark, limit: 100).count }
        }
        #expect(leftovers == 20, "each silent user's first timer is due again in the index")
        let m2 = try w.runToEnd(config)
        #expect(m2.timersFired == 0 && m2.outputsPublished == 0, "\(m2.timersFired) timers fired again")
        #expect(m2.timersStale == 20, "the leftovers were dropped as stale")
    }

    /// Timers due by the thousand drain in pages: after the first step (a full bucket, one second of
    /// `timerUsersPerSecond`), a step waits for a tenth of a second's tokens instead of firing the
    /// handful an idle loop's few milliseconds add, each with its own flush and commit. (The run
    /// stops once the aged vectors are on the topic, so every step is a rate-limited one.)
    @Test func dueTimersFireInPagesOfATenthOfASecondsRate() throws {
        let w = try Self.produced(users: 1_300, active: 20, days: 10, partitions: 1, seed: 59)
        defer { w.env.cleanUp() }
        var config = try w.env.workerConfiguration()
        config.timerUsersPerSecond = 1_000
        // Counts the aged vectors on the topic; gives up (and the gate opens) after a minute.
        let aged = Mutex(0), watching = Mutex(true), gaveUp = Mutex(false)
        let kafka = w.env.kafka, topic = w.env.topics.output
        let watcher = Thread {
            let deadline = Date().addingTimeInterval(60)
            guard let subscriber = try? OutputSubscriber(kafka: kafka, topic: topic, format: .protobuf, batchID: nil, fromBeginning: true)
            else { return gaveUp.withLock { $0 = true } }
            while watching.withLock({ $0 }) {
                let n = (try? subscriber.poll(timeoutMs: 50).filter { $0.trigger == .windowExpiry }.count) ?? 0
                aged.withLock { $0 += n }
                if Date() > deadline { return gaveUp.withLock { $0 = true } }
            }
        }
        watcher.start()
        defer { watching.withLock { $0 = false } }
        let m = try StreamWorker(configuration: config, model: w.env.model).run(
            until: .whenCaughtUp(gate: { aged.withLock { $0 } >= 1_300 || gaveUp.withLock { $0 } }))
        #expect(!gaveUp.withLock { $0 }, "the aged vectors reached the topic (\(aged.withLock { $0 }) seen)")
        #expect(m.timersFired >= 1_300, "every silent user's week ends (\(m.timersFired) fired)")
        // One partition: every step but the last of a run of due timers fires at least 100 users.
        let bound = 2 + (max(0, m.timersFired - 1_000) + 99) / 100
        #expect(m.timerSteps >= 2 && m.timerSteps <= bound, "\(m.timerSteps) steps for \(m.timersFired) timers (at most \(bound))")
    }

    /// When only due timers keep a `--stop-when-caught-up` run going, they fire without the rate
    /// limit: at 50 users a second, 1,300 timers would take 26 s in 26 or more steps; they take a
    /// few pages, and every silent user's last vector is the aged one.
    @Test func timersLeftAtTheEndOfTheInputFireWithoutTheRateLimit() throws {
        let w = try Self.produced(users: 1_300, active: 20, days: 10, partitions: 1, seed: 61)
        defer { w.env.cleanUp() }
        var config = try w.env.workerConfiguration()
        config.timerUsersPerSecond = 50
        let m = try w.runToEnd(config)
        #expect(m.timersFired >= 1_300 && m.timerSteps <= 6, "\(m.timerSteps) steps for \(m.timersFired) timers")
        let kept = latestByContract(try latestVectors(w.env.kafka, w.env.topics.output).all)
        let aged = (0..<1_300).filter { kept["u\($0)"]?.trigger == .windowExpiry }.count
        #expect(aged == 1_300, "\(aged) silent users have the aged vector")
    }

    /// A timer step whose outputs cannot be delivered fails the run, and its fired-timer records
    /// must not reach the changelog before those outputs do: a restart would restore them, take the
    /// timers for fired and drop them as stale, and the aged vectors would never be published.
    /// The input (one partition) is one cycle; the output broker goes down right after it.
    @Test func aTimerStepWhoseOutputsFailedFiresAgainAfterARestart() throws {
        let w = try Self.produced(users: 10, active: 10, days: 10, partitions: 1, seed: 67)
        defer { w.env.cleanUp() }
        let cluster = try #require(w.env.cluster)
        var config = try w.env.workerConfiguration()
        config.deliveryTimeoutMs = 3_000
        try w.env.separateOutputs(onBroker: 3, from: config)
        let cycles = Mutex(0)
        config.afterCycle = {
            if cycles.withLock({ $0 += 1; return $0 }) == 1 { cluster.setBrokerDown(3) }
        }
        #expect(throws: (any Error).self, "the timer step's outputs cannot be delivered") { try w.runToEnd(config) }
        #expect(cycles.withLock { $0 } == 1)

        cluster.setBrokerUp(3)
        config.afterCycle = nil
        config.deliveryTimeoutMs = 60_000
        let m = try w.runToEnd(config)
        #expect(m.recordsRead == 0, "the failed run committed every listen; only its timer step failed")
        #expect(m.timersFired >= 10, "the silent users' timers fired again: \(m.summary)")
        let states = try dumpState(config.stateDirectory, model: w.env.model)
        let kept = try Self.expectAgedVectors(w, topic: w.env.topics.output, states: states)
        let silentAged = (0..<10).filter { kept["u\($0)"]?.trigger == .windowExpiry }.count
        #expect(silentAged == 10, "every silent user's last vector is the aged one (\(silentAged))")
    }

    /// `userrep run` SIGKILLed while timers fire (slowed to 40 users/s): after a restart every
    /// silent user has the aged vector (none lost), the states equal an uninterrupted run's (a timer
    /// changes no state), and at most the page in flight at the kill was published twice.
    @Test func killedWhileTimersFireLosesNoneAndRepeatsAtMostAPage() throws {
        let binary = try userrepBinary()
        let w = try Self.produced(users: 300, active: 30, days: 14, partitions: 4, seed: 53)
        defer { w.env.cleanUp() }
        let reference = try runReference(w.env)

        let args = workerArguments(w.env, group: "killed", state: "killed", maxPollRecords: 2_000) + ["--timer-rate", "40"]
        try w.env.ensureChangelog(groupID: "killed")
        let first = try Process.run(binary, arguments: args)
        let subscriber = try OutputSubscriber(
            kafka: w.env.kafka, topic: w.env.topics.output, format: .protobuf, batchID: nil, fromBeginning: true)
        var fired = 0
        let deadline = Date().addingTimeInterval(120)
        while fired < 60 && first.isRunning && Date() < deadline {
            fired += try subscriber.poll(timeoutMs: 50).filter { $0.trigger == .windowExpiry }.count
        }
        kill(first.processIdentifier, SIGKILL)
        first.waitUntilExit()
        #expect(first.terminationReason == .uncaughtSignal && fired >= 60 && fired < 300, "killed mid-way (\(fired) fired)")
        let second = try Process.run(binary, arguments: args + ["--stop-when-caught-up"])
        second.waitUntilExit()
        #expect(second.terminationStatus == 0)

        let killedStates = try dumpState(w.env.directory.appendingPathComponent("killed").path, model: w.env.model)
        let referenceStates = try dumpState(reference.stateDirectory, model: w.env.model)
        #expect(!killedStates.isEmpty && differingUsers(killedStates, referenceStates).isEmpty, "timers change no state")
        let kept = try Self.expectAgedVectors(w, topic: w.env.topics.output, states: killedStates)
        try Self.expectAgedVectors(w, topic: reference.topics.output, states: referenceStates)
        let silentAged = (0..<300).filter { kept["u\($0)"]?.trigger == .windowExpiry }.count
        #expect(silentAged == 300, "every silent user's last vector is the aged one (\(silentAged))")
        // Published twice at most: the page in flight when the process died (40 users at this rate).
        let timerRecords = try latestVectors(w.env.kafka, w.env.topics.output).all.filter { $0.trigger == .windowExpiry }
        let distinct = Set(timerRecords.map { "\($0.userID)/\($0.updateSequence)/\($0.eventTimeMs)" }).count
        #expect(timerRecords.count - distinct <= 40, "\(timerRecords.count) timer records, \(distinct) distinct")
    }
}
