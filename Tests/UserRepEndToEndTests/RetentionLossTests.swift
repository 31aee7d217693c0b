// Records a broker deleted before the group read them are counted and reported, never skipped in silence.
import Foundation
import Testing
import UserRepKafka
import UserRepModel
@testable import UserRepPipeline
import UserRepTesting

@Suite(.serialized) struct RetentionLossTests {
    /// A worker stops; while it is away the broker deletes the oldest records of every partition,
    /// some of them not yet read (the embedded cluster keeps about 5 MiB a partition, as retention
    /// would). The next run resumes at each partition's first record still kept, and reports how
    /// many of its own unread records are gone: exactly the distance from its stored position to
    /// the new low watermark.
    @Test func recordsDeletedBeforeTheGroupReadThemAreCountedAndTheRestProcessed() throws {
        var w = try Workload(users: 30, tracks: 40, partitions: 2, seed: 83)
        defer { w.env.cleanUp() }
        try w.produceListens(100)
        let first = try StreamWorker(configuration: w.env.workerConfiguration(), model: w.env.model).run(until: .whenCaughtUp())
        #expect(first.listensApplied == 100)
        let admin = try w.env.admin()
        let stopped = try admin.watermarks(topic: w.env.topics.listens).mapValues(\.high)

        // 400 listens of about 40 KB each (an unknown field pads them): ~8 MB a partition, more
        // than the embedded cluster keeps, so it drops the oldest ones, read or not.
        let producer = try KafkaProducer(configuration: w.env.kafka.overriding(["compression.codec": "none"]))
        var rng = SplitMix64(seed: 5)
        for i in 0..<400 {
            let e = w.generator.listen(index: i, total: 400)
            // Random letters, which compression does not shrink.
            let pad = (0..<40_000).map { _ in UInt8(ascii: "a") + UInt8(rng.next() % 26) }
            var json = e.json()
            json.removeLast()
            json += Array(",\"pad\":\"".utf8) + pad + Array("\"}".utf8)
            try producer.produce(topic: w.env.topics.listens, key: e.userID, value: json)
        }
        try producer.flush(timeoutMs: 30_000)
        let marks = try admin.watermarks(topic: w.env.topics.listens)
        let lost = marks.map { p, m in max(0, m.low - (stopped[p] ?? 0)) }.reduce(0, +)
        let unread = marks.map { p, m in m.high - max(m.low, stopped[p] ?? 0) }.reduce(0, +)
        try #require(lost > 0, "the cluster dropped unread records: \(marks.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value.low)..\($0.value.high)" }) after \(stopped)")

        let second = try StreamWorker(configuration: w.env.workerConfiguration(), model: w.env.model).run(until: .whenCaughtUp())
        #expect(second.inputRecordsLost == Int(lost), "lost \(second.inputRecordsLost), expected \(lost) (watermarks \(marks), stopped at \(stopped))")
        #expect(second.listensApplied == Int(unread), "every unread record still kept is processed")
    }
}
