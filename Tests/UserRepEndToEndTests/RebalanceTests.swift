// Scale-out: three worker processes share the partitions; one is killed and another added mid-stream.
import Foundation
import Testing
import UserRepKafka
import UserRepModel
import UserRepPipeline
import UserRepTesting
import UserRepState

@Suite(.serialized) struct RebalanceTests {
    /// Listens per round; USERREP_SOAK=N multiplies them.
    static let listens = 9_000 * soakFactor

    @Test func threeWorkersOneKilledOneAddedEndInTheUninterruptedState() throws {
        let binary = try userrepBinary()
        let w = try Workload(users: 300, tracks: 150, partitions: 6, seed: 59)
        defer { w.env.cleanUp() }
        let group = "scaling"
        try w.env.ensureChangelog(groupID: group)
        var generator = w.generator
        let total = Self.listens
        // A third of the listens before the kill, a third before the added worker has partitions, the
        // rest after: every phase sees live events.
        let sender = BurstSender(
            kafka: w.env.kafka, topic: w.env.topics.listens, events: (0..<total).map { generator.listen(index: $0, total: total) },
            holds: [total / 3, 2 * total / 3])
        let subscriber = try OutputSubscriber(
            kafka: w.env.kafka, topic: w.env.topics.output, format: .protobuf, batchID: nil, fromBeginning: true)
        var seen = 0
        func waitForOutputs(_ target: Int) throws {
            let deadline = Date().addingTimeInterval(120)
            while seen < target && Date() < deadline { seen += try subscriber.poll(timeoutMs: 20).count }
            #expect(seen >= target, "outputs reached \(target)")
        }
        func start(_ name: String, log: Pipe? = nil) throws -> (Process, Pipe) {
            let process = Process()
            process.executableURL = binary
            process.arguments = workerArguments(w.env, group: group, state: name, logLevel: log == nil ? "warning" : "info")
            let out = Pipe()
            process.standardOutput = out
            if let log { process.standardError = log }
            try process.run()
            return (process, out)
        }

        let admin = try w.env.admin()
        func positions() throws -> (committed: [Int32: Int64], high: [Int32: Int64]) {
            (
                try committedOffsets(w.env.kafka, group: group, topic: w.env.topics.listens, partitions: w.env.partitions),
                try admin.watermarks(topic: w.env.topics.listens).mapValues(\.high)
            )
        }
        /// Waits until every partition has moved past `floor` or is read to its end.
        func waitForProgress(beyond floor: [Int32: Int64], _ what: String) throws {
            let deadline = Date().addingTimeInterval(240)
            var now = try positions()
            while Date() < deadline,
                !(0..<Int32(w.env.partitions)).allSatisfy({ p in
                    let c = now.committed[p] ?? 0
                    return c > floor[p] ?? 0 || c == now.high[p]
                })
            {
                usleep(200_000)
                now = try positions()
            }
            #expect(Date() < deadline, "\(what): committed \(now.committed), end \(now.high)")
        }

        let a = try start("a")
        let b = try start("b"), c = try start("c")
        try waitForOutputs(total / 12)
        kill(a.0.processIdentifier, SIGKILL)
        a.0.waitUntilExit()
        #expect(a.0.terminationReason == .uncaughtSignal, "worker a was killed, not finished")
        sender.release()
        // The killed worker's partitions move on only once the others have taken them over.
        try waitForProgress(beyond: try positions().committed, "every partition progresses after the kill")
        let log = Pipe()
        let d = try start("d", log: log)
        // The added worker counts once the group has given it partitions (its log says which).
        var logText = ""
        while d.0.isRunning,
            !logText.split(separator: "\n").contains(where: { $0.contains("partitions assigned") && $0.contains("listens[") })
        {
            logText += String(decoding: log.fileHandleForReading.availableData, as: UTF8.self)
        }
        #expect(d.0.isRunning, "the added worker joined the group")
        // From here on its log is drained as it comes (a full pipe would stall the worker), and
        // kept for the failure messages below.
        let dLog = LockedText(logText)
        log.fileHandleForReading.readabilityHandler = { handle in dLog.append(String(decoding: handle.availableData, as: UTF8.self)) }
        sender.release()
        sender.waitUntilDone()

        // Done when the group has committed every listen; then stop the survivors cleanly.
        try waitForProgress(beyond: try positions().high, "the group committed every listen")
        var summaries: [String] = []
        for (process, out) in [b, c, d] {
            process.terminate()
            process.waitUntilExit()
            // A crash report of the added worker from its start (the frames that crashed), else its log's end.
            let text = dLog.text
            let report = text.range(of: "crashed").map { String(text[$0.lowerBound...].prefix(6_000)) } ?? String(text.suffix(3_000))
            #expect(
                process.terminationReason == .exit && process.terminationStatus == 0,
                "a surviving worker stops cleanly on SIGTERM (\(process.terminationReason == .exit ? "exit" : "signal") \(process.terminationStatus)); the added worker's log: \(report)")
            summaries.append(String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
        }
        // State moved with its partitions: the survivors restored the killed worker's partitions,
        // and the added worker, which started empty, restored the ones it took over.
        let restored = summaries.map { summary in
            summary.split(whereSeparator: \.isWhitespace).first { $0.hasPrefix("restored=") }.flatMap { Int($0.dropFirst(9)) } ?? 0
        }
        #expect(restored[0] + restored[1] > 0, "the survivors restored the killed worker's partitions: \(summaries)")
        #expect(restored[2] > 0, "the added worker restored its partitions' state from the changelog: \(summaries[2])")
        #expect(
            summaries[2].contains("listens=") && !summaries[2].contains(" listens=0 "),
            "the added worker processed live listens: \(summaries[2])")

        // The changelog is the authority: its newest state per user must be the uninterrupted run's.
        let reference = try runReference(w.env)
        let expected = try dumpState(reference.stateDirectory, model: w.env.model)
        let final = try changelogStates(w.env.kafka, w.env.topics.changelog(forGroup: group), model: w.env.model)
        #expect(
            !expected.isEmpty && differingUsers(expected, final).isEmpty,
            "changelog state differs for \(differingUsers(expected, final).prefix(5))")
        let counts = Dictionary(uniqueKeysWithValues: final.map { ($0.key.userIDString, $0.value.totalListens) })
        #expect(counts == sender.perUser, "every user's play count equals the listens produced for them")
        let vectors = try compareFinalVectors(w.env.kafka, w.env.topics.output, "reference-output")
        #expect(vectors.sameUsers)
        #expect(vectors.sequenceMismatches.isEmpty, "final update sequences differ for \(vectors.sequenceMismatches.prefix(5))")
        #expect(vectors.worst <= 1e-5, "final vectors differ by up to \(vectors.worst) (relative)")
        try w.env.verifyNothingDropped()
        print(
            "rebalance test: \(total) listens, 4 workers (1 SIGKILLed, 1 added); survivors: \(summaries.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) })"
        )
    }

    @Test func workerWithAnEmptyDiskRestoresFromTheChangelogAndSkipsWhatItAlreadyHolds() throws {
        var w = try Workload(users: 120, tracks: 100, partitions: 3, seed: 61)
        defer { w.env.cleanUp() }
        try w.produceListens(2_000)
        let first = try w.env.workerConfiguration(stateName: "first", groupID: "replay")
        let m1 = try w.runToEnd(first)
        #expect(m1.listensApplied == 2_000)

        // A worker with an empty disk takes over the state from the changelog but has no position
        // (another group, as after a lost or reset commit), so it re-reads every listen: it must
        // rebuild the state from the changelog and then skip every record, since the state
        // already reflects them all.
        var second = try w.env.workerConfiguration(stateName: "second", groupID: "replay-elsewhere")
        second.topics.changelog = first.changelogTopic
        let m2 = try w.runToEnd(second)
        #expect(m2.restoredRecords == m1.changelogRecords, "the whole changelog was replayed")
        #expect(m2.duplicatesSkipped == 2_000 && m2.listensApplied == 0, "every re-read listen was skipped")
        // Nothing changed, yet every user's vector is published once more, at the re-read of its
        // newest listen (the worker cannot tell this replay from the redo of a cycle whose outputs
        // were lost), with its state's head; the first worker fired every timer due at the
        // watermark and its changelog says so (the fired users' records carry the as-of time), so
        // the new owner, at the same watermark, fires none of them again.
        #expect(m1.timersFired > 0)
        let users = w.listensPerUser.count
        #expect(
            m2.outputsPublished == users && m2.timersFired == 0 && m2.changelogRecords == users,
            "each user republished once, no timer fired again: \(m2.outputsPublished) outputs, \(m2.timersFired) timers")
        let a = try dumpState(first.stateDirectory, model: w.env.model)
        let b = try dumpState(second.stateDirectory, model: w.env.model)
        #expect(!a.isEmpty && differingUsers(a, b).isEmpty, "rebuilt state differs for \(differingUsers(a, b).prefix(5))")
    }

    /// A worker restarted on a copy of its state directory taken before its last run finds the
    /// changelog ahead on every partition; it restores them all together (each to the high
    /// watermark it had, records dispatched by partition) and ends with the state of the run it
    /// missed, reading no listen again.
    @Test func aStaleStateDirectoryCatchesUpOnEveryPartitionFromTheChangelog() throws {
        let (first, config, _) = try oneRun(seed: 62)
        var w = first
        defer { w.env.cleanUp() }
        let stale = config.stateDirectory + "-copy"
        try FileManager.default.copyItem(atPath: config.stateDirectory, toPath: stale)
        try w.produceListens(1_000)
        let m2 = try w.runToEnd(config)
        #expect(m2.listensApplied == 1_000)

        var restarted = config
        restarted.stateDirectory = stale
        let m3 = try w.runToEnd(restarted)
        #expect(m3.partitionsRestored == 6, "every partition had changelog records past the copy's checkpoint")
        #expect(m3.restoredRecords >= m2.changelogRecords - m2.timersFired, "at least the second run's state records were restored")
        // Nothing is redone; the copy's timer index predates the second run, so a few window timers
        // may fire again (their outputs carry the same update sequences), and nothing else is published.
        #expect(
            m3.listensApplied == 0 && m3.outputsPublished == m3.timersFired,
            "the group's offsets were past every listen; nothing but timers was published: \(m3.summary)")
        let live = try dumpState(config.stateDirectory, model: w.env.model)
        let copy = try dumpState(stale, model: w.env.model)
        #expect(!live.isEmpty && differingUsers(live, copy).isEmpty, "restored state differs for \(differingUsers(live, copy).prefix(5))")
    }

    /// Timer steps after a run's last cycle write fired-timer records to the changelog; a clean
    /// stop records them in the store's checkpoints, so a restart on the same directory restores
    /// nothing (it restored them partition by partition, about a second each, before).
    @Test func aCleanRestartAfterTimersFiredRestoresNothing() throws {
        let (w, config, m1) = try oneRun(seed: 63)
        defer { w.env.cleanUp() }
        #expect(m1.timersFired > 0, "timers fired after the last cycle")
        let m2 = try w.runToEnd(config)
        #expect(m2.restoredRecords == 0 && m2.partitionsRestored == 0, "nothing to restore: \(m2.summary)")
        #expect(m2.outputsPublished == 0 && m2.timersFired == 0)
    }

    /// A state directory whose checkpoints lie past the end of the changelog it is given (the
    /// topic was deleted and re-created, or another one named) is not trusted, though a fetch now
    /// confirms a changelog's end before that call: its partitions are dropped and rebuilt from
    /// that changelog, and the group's offsets say what to read after it.
    @Test func aStateDirectoryAheadOfItsChangelogIsRebuiltFromIt() throws {
        var w = try Workload(users: 200, tracks: 100, partitions: 6, seed: 64)
        defer { w.env.cleanUp() }
        try w.produceListens(300)
        let small = try w.env.workerConfiguration(stateName: "small", groupID: "small")
        let m1 = try w.runToEnd(small)
        try w.produceListens(1_700)
        let big = try w.env.workerConfiguration(stateName: "big", groupID: "big")
        let m2 = try w.runToEnd(big)
        #expect(m1.listensApplied == 300 && m2.listensApplied == 2_000)
        // The second run's state directory, given the first run's group and changelog.
        var mixed = small
        mixed.stateDirectory = big.stateDirectory
        let m3 = try w.runToEnd(mixed)
        #expect(
            m3.partitionsRestored == 6 && m3.restoredRecords == m1.changelogRecords,
            "every partition rebuilt from the first run's whole changelog: \(m3.summary)")
        #expect(m3.listensApplied == 1_700 && m3.duplicatesSkipped == 0, "\(m3.summary)")
        let counts = try dumpState(big.stateDirectory, model: w.env.model).map { ($0.key.userIDString, $0.value.totalListens) }
        #expect(Dictionary(uniqueKeysWithValues: counts) == w.listensPerUser, "every user's play count equals the listens produced for them")
    }

    /// 1,000 listens of 200 users on 6 partitions, run to their end by one worker.
    func oneRun(seed: UInt64) throws -> (Workload, WorkerConfiguration, WorkerMetrics) {
        var w = try Workload(users: 200, tracks: 100, partitions: 6, seed: seed)
        try w.produceListens(1_000)
        let config = try w.env.workerConfiguration(stateName: "run", groupID: "group-\(seed)")
        let m = try w.runToEnd(config)
        return (w, config, m)
    }
}

/// Text appended from one thread and read from another.
final class LockedText: @unchecked Sendable {
    private let lock = NSLock()
    private var value: String

    init(_ text: String = "") { value = text }

    func append(_ more: String) { lock.withLock { value += more } }

    var text: String { lock.withLock { value } }
}
