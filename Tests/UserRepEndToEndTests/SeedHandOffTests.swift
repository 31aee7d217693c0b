// `backfill --seed-group`: a group's state built from a replay topic, then carried on by the live topics with every event once.
import Foundation
import Testing
import UserRepKafka
import UserRepModel
import UserRepPipeline
import UserRepState
import UserRepTesting

@Suite struct SeedHandOffTests {
    /// The replay holds the whole history; the live topic holds every event after the hand-off
    /// time T and, as retention overlaps the replay, a third of those before it (which the group
    /// must not count twice), and then new events arrive. The group's final state must equal a
    /// backfill of exactly the events ≤ T of the replay followed by the events > T of the live
    /// topic: on the seeded state directory, and on an empty one restoring from the changelog.
    @Test(arguments: [true, false])
    func aSeededGroupGoesOnFromTheLiveTopicsWithEveryEventOnce(onTheSeededDirectory: Bool) throws {
        var w = try Workload(users: 120, tracks: 100, partitions: 3, seed: 61)
        defer { w.env.cleanUp() }
        try w.env.createTopic("replay", partitions: 3)
        try w.env.createTopic("reference", partitions: 3)
        try w.produceListens(3_000, topic: "replay")
        let history = w.listens
        let handOff = history.map(\.timestampMs).sorted()[1_800]
        var rng = SplitMix64(seed: 5)
        let live = history.filter { $0.timestampMs > handOff || rng.next() % 3 == 0 }
        let producer = try KafkaProducer(configuration: w.env.kafka)
        for e in live { try producer.produce(topic: w.env.topics.listens, key: e.userID, value: e.json()) }
        try producer.flush(timeoutMs: 30_000)

        var seed = try w.env.workerConfiguration(stateName: "seeded", groupID: "g-emb-8")
        seed.untilMs = handOff
        seed.seedGroupID = "g-emb-8"
        seed.maxPollRecords = 400
        let seeding = try StreamWorker(configuration: seed, model: w.env.model, mode: .backfill(topic: "replay")).run()
        #expect(seeding.eventsAfterCutoff == history.filter { $0.timestampMs > handOff }.count)
        let seededUsers = Set(history.filter { $0.timestampMs <= handOff }.map(\.userID))
        let changelog = try changelogStates(w.env.kafka, seed.changelogTopic, model: w.env.model)
        #expect(changelog.count == seededUsers.count, "one changelog record per seeded user")
        #expect(changelog.values.allSatisfy { $0.appliedOffsets == SIMD2(-1, -1) }, "no replay position in a seeded state")
        #expect(try readTopic(w.env.kafka, w.env.topics.output).isEmpty, "a seed publishes nothing")

        // New events after the seed; the generator's times go on past T.
        try w.produceListens(600)
        let arrived = Array(w.listens[history.count...])
        let expected = history.filter { $0.timestampMs <= handOff } + (live + arrived).filter { $0.timestampMs > handOff }
        for e in expected { try producer.produce(topic: "reference", key: e.userID, value: e.json()) }
        try producer.flush(timeoutMs: 30_000)

        var group = try w.env.workerConfiguration(stateName: onTheSeededDirectory ? "seeded" : "other-pod", groupID: "g-emb-8")
        group.maxPollRecords = 400
        let m = try w.runToEnd(group)
        let skipped = (live + arrived).filter { $0.timestampMs <= handOff }.count
        #expect(m.eventsBeforeHandOff == skipped)
        #expect(m.listensApplied == (live + arrived).filter { $0.timestampMs > handOff }.count)
        #expect(m.summary.contains("before_hand_off=\(skipped)"))

        var reference = try w.env.workerConfiguration(stateName: "reference")
        reference.backfillPublishes = false
        _ = try StreamWorker(configuration: reference, model: w.env.model, mode: .backfill(topic: "reference")).run()
        // Offsets differ between the topics; every sum, count and tile must not.
        let a = withoutOffsets(try dumpState(group.stateDirectory, model: w.env.model))
        let b = withoutOffsets(try dumpState(reference.stateDirectory, model: w.env.model))
        #expect(!a.isEmpty && differingUsers(a, b).isEmpty, "states differ for \(differingUsers(a, b).prefix(5))")
    }

    @Test func aSeedRefusesAChangelogAGroupHasWorkedOnAndAGroupRefusesAnUnfinishedSeed() throws {
        var w = try Workload(users: 40, tracks: 60, partitions: 2, seed: 62)
        defer { w.env.cleanUp() }
        try w.env.createTopic("replay", partitions: 2)
        try w.produceListens(400, topic: "replay")
        try w.produceListens(200)
        // A group that has run writes its changelog: seeding it now would mix two histories.
        var ran = try w.env.workerConfiguration(stateName: "ran", groupID: "g-ran")
        ran.maxPollRecords = 100
        _ = try w.runToEnd(ran)
        var seed = try w.env.workerConfiguration(stateName: "seed", groupID: "g-ran")
        seed.untilMs = w.listens.map(\.timestampMs).max()
        seed.seedGroupID = "g-ran"
        #expect {
            try StreamWorker(configuration: seed, model: w.env.model, mode: .backfill(topic: "replay")).run()
        } throws: { "\($0)".contains("already holds records") }

        // A store whose seed began and did not end is refused by a group worker.
        do {
            let store = try StateStore(
                directory: w.env.directory.appendingPathComponent("half").path,
                embeddingBatchID: w.env.model.manifest.embeddingBatchId, width: w.env.model.layout.listenWidth)
            try store.beginSeed(123)
        }
        let half = try w.env.workerConfiguration(stateName: "half", groupID: "g-half")
        #expect {
            _ = try StreamWorker(configuration: half, model: w.env.model)
        } throws: { "\($0)".contains("did not finish") }
    }
}
