// The end-to-end, restart, SIGKILL, rebalance and transaction checks against a real broker
// (Tansu), plus what the embedded cluster cannot show: the admin API, records above 5 MiB.
import Foundation
import Testing
import UserRepModel
import UserRepPipeline
import UserRepTesting

/// Tracks, listens and a random model as files, with the independent recomputation of every
/// user's vector.
struct BrokerWorkload {
    let listens: [ListenEvent]
    let tracksFile: String
    let listensFile: String
    let manifest: String
    let naive: NaiveModel

    init(on broker: RealBroker, listens count: Int, users: Int = 200, tracks: Int = 150, seed: UInt64 = 11) throws {
        var s = SyntheticGenerator.Settings()
        s.users = users
        s.tracks = tracks
        s.artists = 20
        s.seed = seed
        var generator = SyntheticGenerator(settings: s)
        let catalogue = generator.trackRecords()
        listens = (0..<count).map { generator.listen(index: $0, total: count) }
        tracksFile = try broker.file("tracks.jsonl", lines: catalogue.map { String(decoding: $0.json(), as: UTF8.self) })
        listensFile = try broker.file("listens.jsonl", lines: listens.map { String(decoding: $0.json(), as: UTF8.self) })
        let (m, w) = ModelFactory.random(batchID: "broker-b1", embeddingBatchID: s.embeddingBatchID, dims: s.dims)
        let url = try ModelFactory.write(manifest: m, weights: w, to: broker.directory.appendingPathComponent("model"))
        manifest = url.path
        naive = try NaiveModel(manifestURL: url, tracks: catalogue)
    }

    /// Listens per user, in file order (the order a partition keeps them).
    var byUser: [String: [ListenEvent]] { Dictionary(grouping: listens) { String(decoding: $0.userID, as: UTF8.self) } }

    /// Creates the topics (through the admin API) and publishes the tracks and `listens` (a file
    /// of listens; all of them unless given).
    func publish(to broker: RealBroker, partitions: Int = 4, group: String = "userrep", listens: String? = nil) throws {
        try broker.userrep(["topics", "create", "--partitions", String(partitions), "--group-id", group])
        try broker.userrep(["tracks", "import", "--file", tracksFile])
        try broker.userrep(["events", "import", "--file", listens ?? listensFile])
    }

    /// The listens' first and second halves as two files, for tests that publish them apart.
    func halves(on broker: RealBroker) throws -> [String] {
        let middle = listens.count / 2
        return try [listens[..<middle], listens[middle...]].enumerated().map { i, half in
            try broker.file("listens-\(i).jsonl", lines: half.map { String(decoding: $0.json(), as: UTF8.self) })
        }
    }

    /// `userrep run` arguments for a worker of `group` with state in `state`.
    func worker(group: String = "userrep", state: String, extra: [String] = []) -> [String] {
        ["run", "--model", manifest, "--state-dir", state, "--group-id", group, "--max-poll-records", "300", "--log-level", "debug"] + extra
    }
}

/// Every record on the output topic, read by `userrep subscribe` (read_committed, librdkafka's default).
func outputs(_ broker: RealBroker, extra: [String] = []) throws -> [RepresentationRecord] {
    let result = try broker.userrep(["subscribe", "--from-beginning", "--exit-at-end", "--json"] + extra)
    return try result.stdout.split(separator: "\n").map { line in
        try Array(line.utf8).withUnsafeBytes { try RepresentationRecord.decode($0, format: .json) }
    }
}

/// Checks the newest vector of every user: one per user who listened, its update sequence
/// equal to the user's listen count (each listen applied exactly once), its vector the naive
/// recomputation's. A failure shows the assignment and restore lines of `logs` (the workers'
/// standard error), which is all a CI run keeps of them.
func expectExactlyOnce(
    _ records: [RepresentationRecord], _ workload: BrokerWorkload, logs: [String] = [], sourceLocation: SourceLocation = #_sourceLocation
)
    throws
{
    var latest: [String: RepresentationRecord] = [:]
    for r in records where (latest[r.userID]?.updateSequence ?? 0) < r.updateSequence { latest[r.userID] = r }
    let byUser = workload.byUser
    #expect(Set(latest.keys) == Set(byUser.keys), "every user who listened has a vector", sourceLocation: sourceLocation)
    var wrongCounts: [String] = []
    var worst = 0.0
    for (user, events) in byUser {
        guard let record = latest[user] else { continue }
        if record.updateSequence != UInt64(events.count) { wrongCounts.append("\(user): \(record.updateSequence) != \(events.count)") }
        let expected = try workload.naive.vector(for: events)
        worst = max(worst, zip(record.vector, expected).map { abs(Double($0) - $1) / max(1, abs($1)) }.max() ?? 0)
    }
    let digest = logs.enumerated().map { i, log in "worker \(i):\n" + handOverLines(log) }.joined(separator: "\n")
    #expect(
        wrongCounts.isEmpty, "update sequences differ from listen counts: \(wrongCounts.sorted().prefix(5))\n\(digest)",
        sourceLocation: sourceLocation)
    #expect(worst <= 1e-4, "largest relative difference from the naive model: \(worst)", sourceLocation: sourceLocation)
}

/// The lines of a worker's log that say how partitions changed hands: assignments, revocations,
/// restores and where each partition started.
func handOverLines(_ log: String) -> String {
    let markers = ["partitions assigned", "partitions revoked", "restor", "start offsets", "rebuilding", "worker stopped"]
    return log.split(separator: "\n").filter { line in markers.contains { line.contains($0) } }.prefix(60).map { String($0.prefix(400)) }
        .joined(separator: "\n")
}

/// Whether every user's newest update sequence has reached their listen count.
func everyListenCounted(_ records: [RepresentationRecord], _ workload: BrokerWorkload) -> Bool {
    var latest: [String: UInt64] = [:]
    for r in records { latest[r.userID] = max(latest[r.userID] ?? 0, r.updateSequence) }
    return workload.byUser.allSatisfy { latest[$0.key] == UInt64($0.value.count) }
}

/// The `key=number` fields of one line.
func numericFields(_ line: Substring) -> [String: Int] {
    var fields: [String: Int] = [:]
    for pair in line.split(separator: " ") {
        let kv = pair.split(separator: "=", maxSplits: 1)
        if kv.count == 2, let n = Int(kv[1]) { fields[String(kv[0])] = n }
    }
    return fields
}

/// The worker's end-of-run summary line (`read=… dead_letters=…`) as numbers.
func summary(_ stdout: String) -> [String: Int] {
    stdout.split(separator: "\n").last(where: { $0.hasPrefix("read=") }).map(numericFields) ?? [:]
}

/// The number in `field=` of the first log line containing `message`.
func logField(_ log: String, _ message: String, _ field: String) -> Int? {
    log.split(separator: "\n").first(where: { $0.contains(message) }).flatMap { numericFields($0)[field] }
}

/// Waits until the process has logged `count` lines containing `marker` (or exited).
func waitForLog(_ run: ProcessRun, _ marker: String, count: Int, seconds: Double = 120) {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline && run.process.isRunning {
        if run.stderrSoFar.components(separatedBy: marker).count - 1 >= count { return }
        usleep(50_000)
    }
}

@Suite(.serialized) struct RealBrokerTests {
    @Test func topicsAreCreatedThroughTheAdminAPIOnce() throws {
        let broker = try RealBroker()
        let first = try broker.userrep(["topics", "create", "--partitions", "3"])
        #expect(
            first.stdout.contains(
                "created listens, onboarding, track-embeddings, user-representations, userrep-dead-letters, userrep-state-changelog"),
            "\(first.stdout)")
        let second = try broker.userrep(["topics", "create", "--partitions", "3"])
        #expect(!second.stdout.contains("created listens"), "a second run creates nothing: \(second.stdout)")
        // The worker accepts what the admin API made: same partition counts on its inputs and changelog.
        let w = try BrokerWorkload(on: broker, listens: 300)
        try broker.userrep(["tracks", "import", "--file", w.tracksFile])
        try broker.userrep(["events", "import", "--file", w.listensFile])
        let run = try broker.userrep(w.worker(state: broker.path("s"), extra: ["--stop-when-caught-up"]))
        #expect(summary(run.stdout)["listens"] == 300)
    }

    /// The worker asks the broker for its changelog's configs (DescribeConfigs, which the
    /// embedded cluster does not answer) and gets the answer between cycles, without waiting for
    /// it: the `cleanup.policy=compact` the admin API created it with. (Tansu describes only the
    /// configs a topic was created with, and no userrep command creates one with
    /// `cleanup.policy=delete`, so the refusal itself is checked on `StartupChecks.deletingPolicy`.)
    @Test func theChangelogsConfigsAreAskedAndAnswered() throws {
        let broker = try RealBroker()
        let w = try BrokerWorkload(on: broker, listens: 300)
        try w.publish(to: broker)
        let run = try broker.userrep(w.worker(state: broker.path("s"), extra: ["--stop-when-caught-up"]))
        #expect(
            run.stderr.contains("cleanup.policy=compact max.message.bytes=(not described) topic=userrep-state-changelog"),
            "\(run.stderr.suffix(2000))")
        #expect(summary(run.stdout)["listens"] == 300)
    }

    /// A topic the worker writes, created with a config that would lose or refuse its records,
    /// stops the worker with the config named; the remedy the error names lets it run.
    @Test(arguments: [
        ("userrep-state-changelog", ["cleanup.policy": "delete"], "has cleanup.policy=delete", [String]()),
        ("userrep-dead-letters", ["max.message.bytes": "65536"], "'userrep-dead-letters' accepts record batches of up to 65536 bytes",
         ["-X", "message.max.bytes=65536"]),
    ])
    func aWrittenTopicWhoseConfigWouldLoseOrRefuseRecordsStopsTheWorker(
        _ topic: String, _ configs: [String: String], _ named: String, _ remedy: [String]
    ) throws {
        let broker = try RealBroker()
        let w = try BrokerWorkload(on: broker, listens: 3000)
        try broker.createTopic(topic, partitions: topic.hasSuffix("changelog") ? 4 : 1, configs: configs)
        try w.publish(to: broker)
        let refused = try broker.userrep(w.worker(state: broker.path("s"), extra: ["--stop-when-caught-up"]), expectStatus: 1)
        #expect(refused.stderr.contains(named), "\(refused.stderr.suffix(2000))")
        guard !remedy.isEmpty else { return }
        // In a group of its own: after the refused member, Tansu once never answered the next
        // join of the same group.
        try broker.userrep(["topics", "create", "--partitions", "4", "--group-id", "remedied"])
        let run = try broker.userrep(w.worker(group: "remedied", state: broker.path("s2"), extra: ["--stop-when-caught-up"] + remedy))
        #expect(run.stderr.contains("max.message.bytes=65536 topic=userrep-dead-letters"), "\(run.stderr.suffix(2000))")
    }

    @Test func benchRunsOnExternalBrokersAndRefusesTopicsThatExist() throws {
        let broker = try RealBroker()
        let bench = [
            "bench", "--events", "2000", "--users", "300", "--tracks", "200", "--rate", "0", "--no-kafka-alone", "--no-microbenchmarks",
        ]
        let first = try broker.userrep(bench)
        #expect(first.stdout.contains("on the brokers at \(broker.bootstrap)"), "\(first.stdout)")
        #expect(first.stdout.contains("backlog: 2000 events"), "\(first.stdout)")
        #expect(first.stdout.contains("nothing dropped by the brokers"), "\(first.stdout)")
        // A second bench on the same brokers would count the first one's records: refused up front.
        let second = try broker.userrep(bench, expectStatus: 1)
        #expect(second.stderr.contains("topic listens already exists"), "\(second.stderr)")
    }

    /// Tansu lists a partition's high watermark as the base offset of its last record batch plus
    /// one, so a restarted worker's changelog checkpoint and track-table offsets look past their
    /// topics' ends; the worker once took that for re-created topics, rebuilt every partition from
    /// the changelog and read the whole track table again at every restart. It now confirms the
    /// ends with a fetch and keeps both.
    @Test func vectorsMatchTheNaiveModelAndARestartResumes() throws {
        let broker = try RealBroker()
        let w = try BrokerWorkload(on: broker, listens: 3000)
        let halves = try w.halves(on: broker)
        try w.publish(to: broker, listens: halves[0])
        let state = broker.path("state")
        let first = try broker.userrep(w.worker(state: state, extra: ["--stop-when-caught-up"]))
        #expect(summary(first.stdout)["listens"] == 1500)
        // A restart on the same state goes on from its own state: nothing rebuilt or restored.
        try broker.userrep(["events", "import", "--file", halves[1]])
        let second = try broker.userrep(w.worker(state: state, extra: ["--stop-when-caught-up"]))
        #expect(summary(second.stdout)["listens"] == 1500, "\(second.stdout)")
        #expect(summary(second.stdout)["restored"] == 0, "\(second.stdout)")
        #expect(!second.stderr.contains("rebuilding"), "\(handOverLines(second.stderr))")
        // Nor is its local track table read again (it was emptied and read whole at every restart).
        #expect(logField(second.stderr, "track table loaded", "read") == 0, "\(second.stderr.prefix(1500))")
        try expectExactlyOnce(try outputs(broker), w, logs: [first.stderr, second.stderr])
        // Another restart reads nothing again.
        let third = try broker.userrep(w.worker(state: state, extra: ["--stop-when-caught-up"]))
        #expect(summary(third.stdout)["listens"] == 0, "restart resumes from the committed position: \(third.stdout)")
    }

    @Test func aSIGKILLedWorkerLosesAndDoublesNothing() throws {
        let broker = try RealBroker()
        let w = try BrokerWorkload(on: broker, listens: 6000)
        try w.publish(to: broker)
        let state = broker.path("state")
        let args = w.worker(state: state, extra: ["--max-poll-records", "100"])
        let victim = try broker.start(args)
        waitForLog(victim, "stages_ms=", count: 5)
        kill(victim.process.processIdentifier, SIGKILL)
        let killed = victim.wait()
        #expect(killed.killed, "the worker was killed mid-run, not finished: \(killed.stderr.suffix(500))")
        let resumed = try broker.userrep(args + ["--stop-when-caught-up"])
        try expectExactlyOnce(try outputs(broker), w, logs: [killed.stderr, resumed.stderr])
    }

    @Test func twoWorkersRebalanceAndCommitOffsetsOnTheWay() throws {
        let broker = try RealBroker()
        let w = try BrokerWorkload(on: broker, listens: 6000)
        // The listens go out in two halves, the second once B holds its partitions, so B has work
        // by construction. (When all of them went out first, A sometimes finished B's partitions
        // before the rebalance on a busy machine, and B found nothing left to read.)
        let halves = try w.halves(on: broker)
        try w.publish(to: broker, partitions: 6, listens: halves[0])
        let a = try broker.start(w.worker(state: broker.path("a"), extra: ["--max-poll-records", "50"]))
        waitForLog(a, "stages_ms=", count: 3)
        // B joins: the group rebalances, A commits what it did on revoke, and B restores the
        // users of its partitions from the changelog.
        let b = try broker.start(w.worker(state: broker.path("b"), extra: ["--max-poll-records", "100"]))
        waitForLog(b, "partitions assigned", count: 1)
        try broker.userrep(["events", "import", "--file", halves[1]])
        // B works on its share, then leaves, and A takes its partitions back.
        waitForLog(b, "stages_ms=", count: 1)
        kill(b.process.processIdentifier, SIGTERM)
        let bDone = b.wait()
        #expect(bDone.status == 0, "\(bDone.stderr.suffix(2000))")
        #expect((summary(bDone.stdout)["listens"] ?? 0) > 0, "B did part of the work: \(bDone.stdout)")
        // A stays (Tansu 0.6.0 cannot re-form a group whose leader left; README lists it).
        let deadline = Date().addingTimeInterval(120)
        while try Date() < deadline && !everyListenCounted(outputs(broker), w) { usleep(200_000) }
        kill(a.process.processIdentifier, SIGTERM)
        let aDone = a.wait()
        #expect(aDone.status == 0, "\(aDone.stderr.suffix(2000))")
        #expect(summary(aDone.stdout)["assignments"].map { $0 >= 2 } ?? false, "A was assigned again after B left: \(aDone.stdout)")
        #expect((summary(aDone.stdout)["listens"] ?? 0) + (summary(bDone.stdout)["listens"] ?? 0) >= 6000)
        try expectExactlyOnce(try outputs(broker), w, logs: [aDone.stderr, bDone.stderr])
    }

    /// Tansu's high watermark is the base offset of the last record batch plus one, so most of
    /// that batch lies past it. A worker taking a partition over with an empty state directory
    /// must restore that batch whole even when its polls end inside it (7 records a poll here);
    /// it once stopped at the watermark and resumed after listens its state lacked.
    @Test func aNewOwnerRestoresTheChangelogPastALaggingHighWatermark() throws {
        let broker = try RealBroker()
        let w = try BrokerWorkload(on: broker, listens: 4000)
        let halves = try w.halves(on: broker)
        try w.publish(to: broker, partitions: 1, listens: halves[0])
        // Without window timers its last changelog batch holds states (not only fired-timer records).
        let first = try broker.userrep(
            w.worker(state: broker.path("first"), extra: ["--stop-when-caught-up", "--no-window-timers"]))
        #expect(summary(first.stdout)["listens"] == 2000, "\(first.stdout)")
        // The second half goes to a worker on another disk: all it knows comes from the changelog.
        try broker.userrep(["events", "import", "--file", halves[1]])
        let second = try broker.userrep(
            w.worker(
                state: broker.path("second"), extra: ["--stop-when-caught-up", "--max-poll-records", "7"]))
        #expect(summary(second.stdout)["listens"] == 2000, "\(second.stdout)")
        // The restore read past the watermark it started with (the test's premise: Tansu's lag).
        let announced = logField(second.stderr, "restoring state from the changelog", "records")
        let restored = logField(second.stderr, "restored state from the changelog", "records")
        #expect(
            announced != nil && restored != nil && restored! > announced! + 7, "announced \(announced ?? -1), restored \(restored ?? -1)")
        try expectExactlyOnce(try outputs(broker), w, logs: [first.stderr, second.stderr])
    }

    /// A backfill reads its replay topic up to the high watermark it had at start-up; on Tansu
    /// the rest of the topic's last record batch lies past it. With 7-record polls the backfill
    /// once stopped inside that batch and published users without their last listens.
    @Test func aBackfillReadsTheReplayTopicPastALaggingHighWatermark() throws {
        let broker = try RealBroker()
        let w = try BrokerWorkload(on: broker, listens: 2000)
        try w.publish(to: broker, partitions: 1)
        let run = try broker.userrep([
            "backfill", "--replay-topic", "listens", "--model", w.manifest, "--max-poll-records", "7",
            "--state-dir", broker.path("backfill"),
        ])
        #expect(summary(run.stdout)["listens"] == 2000, "\(run.stdout)")
        try expectExactlyOnce(try outputs(broker), w)
    }

    @Test func readCommittedReadersNeverSeeAKilledTransaction() throws {
        let broker = try RealBroker()
        let w = try BrokerWorkload(on: broker, listens: 6000)
        try w.publish(to: broker)
        let state = broker.path("state")
        let args = w.worker(state: state, extra: ["--max-poll-records", "100", "--transactional-id", "worker-0"])
        let victim = try broker.start(args)
        waitForLog(victim, "stages_ms=", count: 5)
        kill(victim.process.processIdentifier, SIGKILL)
        let killed = victim.wait()
        let resumed = try broker.userrep(args + ["--stop-when-caught-up"])
        let committed = try outputs(broker)
        try expectExactlyOnce(committed, w, logs: [killed.stderr, resumed.stderr])
        // A killed cycle's records are re-produced after the restart; read_committed readers see each
        // (user, update sequence, event time) once (a window_expiry record shares its state's sequence
        // with a later event time), read_uncommitted ones may also see the aborted copies.
        var seen = Set<String>()
        let duplicates = committed.filter { !seen.insert("\($0.userID)#\($0.updateSequence)#\($0.eventTimeMs)").inserted }.count
        #expect(duplicates == 0, "read_committed saw \(duplicates) records twice")
        let everything = try outputs(broker, extra: ["-X", "isolation.level=read_uncommitted"])
        #expect(everything.count >= committed.count)
    }

    @Test func aListenAbove5MiBIsDeadLetteredAndItsPartitionGoesOn() throws {
        let broker = try RealBroker()
        let w = try BrokerWorkload(on: broker, listens: 400)
        try broker.userrep(["topics", "create", "--partitions", "1"])
        try broker.userrep(["tracks", "import", "--file", w.tracksFile])
        // 6 MiB of padding in an ignored field: valid JSON (the parser skips unknown fields), but
        // above the worker's record limit and the embedded cluster's 5 MiB per partition.
        let first = w.listens[0]
        let big =
            #"{"user_id":"u-big","track_id":"\#(String(decoding: first.trackID, as: UTF8.self))","timestamp_ms":\#(first.timestampMs),"padding":["#
            + Array(repeating: "0", count: 3 << 20).joined(separator: ",") + "]}"
        let bigFile = try broker.file("big.jsonl", lines: [big])
        try broker.userrep(["events", "import", "--file", bigFile, "-X", "message.max.bytes=16777216"])
        try broker.userrep(["events", "import", "--file", w.listensFile])
        let run = try broker.userrep(w.worker(state: broker.path("s"), extra: ["--stop-when-caught-up"]))
        let s = summary(run.stdout)
        #expect(s["dead_letters"] == 1 && s["listens"] == 400, "\(run.stdout)")
        #expect(s["truncated_dead_letters"].map { $0 == 1 } ?? true)
        try expectExactlyOnce(try outputs(broker), w)
    }
}
