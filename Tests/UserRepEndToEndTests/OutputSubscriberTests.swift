// The subscriber's record counts, and the demo's check that no output was dropped before it was read.
import Foundation
import Testing
import UserRepKafka
import UserRepModel
import UserRepPipeline
import UserRepTesting

@Suite struct OutputSubscriberTests {
    @Test func outputDroppedBeforeTheSubscriberReadItIsCaught() throws {
        let env = try EmbeddedEnvironment(partitions: 1, generator: SyntheticGenerator(settings: .init(users: 10, tracks: 10)))
        defer { env.cleanUp() }
        let producer = try KafkaProducer(configuration: env.kafka)
        var rng = SplitMix64(seed: 5)
        func produce(_ count: Int, bytes: Int) throws {
            for _ in 0..<count {
                let value = (0..<bytes).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
                try producer.produce(topic: env.topics.output, partition: 0, key: Array("u".utf8), value: value)
            }
            try producer.flush(timeoutMs: 30_000)
        }
        /// Polls until the subscriber has read `count` records of partition 0.
        func read(until count: Int64, _ subscriber: OutputSubscriber) throws {
            let deadline = Date().addingTimeInterval(60)
            while (subscriber.recordsRead[0] ?? 0) < count && Date() < deadline { _ = try subscriber.poll(timeoutMs: 100) }
        }
        do {
            let subscriber = try OutputSubscriber(
                kafka: env.kafka, topic: env.topics.output, format: .protobuf, batchID: nil, fromBeginning: true)
            try produce(3, bytes: 100)
            try read(until: 3, subscriber)
            #expect(subscriber.recordsRead == [0: 3])
            try env.verifyEveryOutputRead(by: subscriber)
        }

        // 7 MB with no subscriber reading: more than the cluster keeps per partition.
        try produce(7_000, bytes: 1_000)
        let marks = try #require(try env.admin().watermarks(topic: env.topics.output)[0])
        #expect(marks.high == 7_003 && marks.low > 3, "the cluster dropped the oldest records")
        // A subscriber from the beginning now starts at the oldest record kept.
        let late = try OutputSubscriber(kafka: env.kafka, topic: env.topics.output, format: .protobuf, batchID: nil, fromBeginning: true)
        try read(until: marks.high - marks.low, late)
        #expect(late.recordsRead == [0: marks.high - marks.low])
        #expect(throws: KafkaError.self) { try env.verifyEveryOutputRead(by: late) }
        #expect(throws: KafkaError.self) { try env.verifyNothingDropped(changelog: false) }
        try env.verifyNothingDropped(changelog: false, output: false)
    }
}
