// `backfill --until`: the state as of an event time, against a backfill of a brute-force filtered replay topic.
import Foundation
import Testing
import UserRepKafka
import UserRepPipeline
import UserRepState
import UserRepTesting

@Suite struct BackfillUntilTests {
    @Test func theStateAsOfTimeEqualsABackfillOfOnlyTheEventsUpToIt() throws {
        var w = try Workload(users: 120, tracks: 100, seed: 23)
        defer { w.env.cleanUp() }
        try w.env.createTopic("replay", partitions: 3)
        try w.env.createTopic("replay-filtered", partitions: 3)
        try w.produceListens(3_000, topic: "replay")
        // Late events make event time non-monotone in the topic: the cut is not an offset.
        let until = w.listens.map(\.timestampMs).sorted()[1_700]
        let kept = w.listens.filter { $0.timestampMs <= until }
        let producer = try KafkaProducer(configuration: w.env.kafka)
        for e in kept { try producer.produce(topic: "replay-filtered", key: e.userID, value: e.json()) }
        try producer.flush(timeoutMs: 30_000)

        var cut = try w.env.workerConfiguration(stateName: "until")
        cut.untilMs = until
        cut.backfillPublishes = false
        cut.maxPollRecords = 400
        let m = try StreamWorker(configuration: cut, model: w.env.model, mode: .backfill(topic: "replay")).run()
        #expect(m.listensApplied == kept.count)
        #expect(m.eventsAfterCutoff == w.listens.count - kept.count)
        #expect(m.summary.contains("after_until=\(w.listens.count - kept.count)"))
        #expect(try readTopic(w.env.kafka, w.env.topics.output).isEmpty, "--no-publish publishes nothing")

        var reference = try w.env.workerConfiguration(stateName: "filtered")
        reference.backfillPublishes = false
        _ = try StreamWorker(configuration: reference, model: w.env.model, mode: .backfill(topic: "replay-filtered")).run()
        // The two topics hold the kept events at different offsets; everything else must be equal.
        let a = withoutOffsets(try dumpState(cut.stateDirectory, model: w.env.model))
        let b = withoutOffsets(try dumpState(reference.stateDirectory, model: w.env.model))
        #expect(Set(a.keys.map(\.userIDString)) == Set(kept.map { String(decoding: $0.userID, as: UTF8.self) }))
        #expect(!a.isEmpty && differingUsers(a, b).isEmpty, "states differ for \(differingUsers(a, b).prefix(5))")
    }
}
