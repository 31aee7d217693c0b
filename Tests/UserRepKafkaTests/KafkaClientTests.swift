// The Kafka layer against librdkafka's embedded Kafka-protocol cluster.
import Foundation
import Testing
import UserRepKafka

@Suite struct KafkaClientTests {
    @Test func producedRecordsAreConsumedByGroupMemberWithHeaders() throws {
        let cluster = try EmbeddedKafkaCluster(brokers: 3)
        try cluster.createTopic("t", partitions: 4)
        let base = KafkaConfiguration(["bootstrap.servers": cluster.bootstrapServers])
        let producer = try KafkaProducer(configuration: base)
        for i in 0..<500 {
            try producer.produce(
                topic: "t", key: Array("k\(i % 50)".utf8), value: Array("v\(i)".utf8),
                headers: [KafkaHeader(name: "h", string: "x\(i)")])
        }
        try producer.flush(timeoutMs: 10_000)
        #expect(producer.deliveredCount == 500)

        let consumer = try KafkaConsumer(configuration: base.overriding(["group.id": "g1"]))
        try consumer.subscribe(["t"])
        var values = Set<String>()
        var headersSeen = 0
        try pollUntil(consumer, topics: ["t"], { values.count >= 500 }) { m in
            #expect(m.topicIndex == 0)
            values.insert(String(decoding: m.value ?? UnsafeRawBufferPointer(start: nil, count: 0), as: UTF8.self))
            if m.headers.first?.name == "h" { headersSeen += 1 }
        }
        #expect(values.count == 500)
        #expect(headersSeen == 500)
        #expect(consumer.assignment.count == 4)
        consumer.close()
    }

    // librdkafka 2.0.2's embedded cluster does not answer CreateTopics, so topics are made with its
    // own API here and the admin client is checked for finding them (and creating nothing).
    @Test func adminFindsExistingTopicsAndReportsWatermarks() throws {
        let cluster = try EmbeddedKafkaCluster(brokers: 1)
        try cluster.createTopic("made", partitions: 3)
        let config = KafkaConfiguration(["bootstrap.servers": cluster.bootstrapServers])
        let admin = try KafkaAdmin(configuration: config)
        #expect(try admin.createTopics([KafkaTopicSpec(name: "made", partitions: 3)]).isEmpty)
        #expect(try admin.partitionCount(topic: "made") == 3)
        #expect(try admin.partitionCount(topic: "absent") == nil)
        let producer = try KafkaProducer(configuration: config)
        for i in 0..<10 { try producer.produce(topic: "made", partition: 1, key: nil, value: [UInt8(i)]) }
        try producer.flush(timeoutMs: 10_000)
        let marks = try admin.watermarks(topic: "made")
        #expect(marks[1] == KafkaWatermarks(low: 0, high: 10))
        #expect(marks[0] == KafkaWatermarks(low: 0, high: 0))
    }

    @Test func trackedRecordsReportTheOffsetAfterTheNewestDeliveredPerPartition() throws {
        let cluster = try EmbeddedKafkaCluster(brokers: 2)
        try cluster.createTopic("log", partitions: 3)
        try cluster.createTopic("other", partitions: 3)
        let config = KafkaConfiguration(["bootstrap.servers": cluster.bootstrapServers])
        let producer = try KafkaProducer(configuration: config)
        let log = try producer.openTopic("log")
        // Untracked records before and between the tracked ones, and on another topic.
        for i in 0..<30 {
            try withUnsafeBytes(of: i) { v in
                try producer.produce(to: log, partition: Int32(i % 2), key: nil, value: v, trackOffset: i >= 5 && i % 4 != 0)
                try producer.produce(topic: "other", partition: 2, key: nil, value: v, trackOffset: false)
            }
        }
        try producer.flush(timeoutMs: 10_000)
        // Partition 0 holds 15 records, the newest tracked one (i = 26) at offset 13; partition 1
        // holds 15, the newest tracked one (i = 29) at offset 14. Partition 2 got no tracked record.
        #expect(
            producer.takeDeliveredOffsets() == [
                KafkaTopicPartition(topic: "log", partition: 0): 14, KafkaTopicPartition(topic: "log", partition: 1): 15,
            ])
        #expect(producer.takeDeliveredOffsets().isEmpty, "taking the offsets forgets them")
    }

    /// With `gatherUntil`, a poll that has one record waits for more until the deadline (or the
    /// record limit); without, it takes only what is queued. A record produced well after the first
    /// still lands in the same poll.
    @Test func aGatheringPollWaitsForMoreRecordsUntilItsDeadlineOrLimit() throws {
        let cluster = try EmbeddedKafkaCluster(brokers: 1)
        try cluster.createTopic("g", partitions: 1)
        let base = KafkaConfiguration(["bootstrap.servers": cluster.bootstrapServers, "fetch.wait.max.ms": "10"])
        let producer = try KafkaProducer(configuration: base.overriding(["linger.ms": "0"]))
        let consumer = try KafkaConsumer(configuration: base.overriding(["group.id": "gather"]))
        defer { consumer.close() }
        try consumer.subscribe(["g"])
        let send: @Sendable (String) throws -> Void = { value in
            try producer.produce(topic: "g", partition: 0, key: nil, value: Array(value.utf8))
            try producer.flush(timeoutMs: 10_000)
        }
        // Joined and reading: the first record is polled alone.
        try send("a")
        var seen = 0
        try pollUntil(consumer, topics: ["g"], { seen == 1 }) { _ in seen += 1 }
        #expect(seen == 1)

        let polled = KafkaPolledRecords(topics: ["g"])
        // The second record comes half a second after the first: a poll gathering for up to a
        // minute returns with both, as soon as the limit of two is reached.
        let later = Thread {
            Thread.sleep(forTimeInterval: 0.5)
            try? send("c")
        }
        try send("b")
        later.start()
        let n = try consumer.poll(
            into: polled, maxMessages: 2, timeoutMs: 30_000, gatherUntil: ContinuousClock.now.advanced(by: .seconds(60)))
        #expect(n == 2)
        #expect((0..<polled.count).map { String(decoding: polled[$0].value ?? UnsafeRawBufferPointer(start: nil, count: 0), as: UTF8.self) } == ["b", "c"])

        // A deadline ends the gathering short of the limit; one already passed takes what is queued.
        try send("d")
        #expect(try consumer.poll(into: polled, maxMessages: 10, timeoutMs: 30_000, gatherUntil: ContinuousClock.now.advanced(by: .milliseconds(300))) == 1)
        try send("e")
        #expect(try consumer.poll(into: polled, maxMessages: 10, timeoutMs: 30_000, gatherUntil: ContinuousClock.now) == 1)
    }

    @Test func invalidPropertyIsRejectedWithItsName() {
        #expect {
            _ = try KafkaProducer(configuration: KafkaConfiguration(["no.such.property": "1"]))
        } throws: { error in
            (error as? KafkaError)?.message.contains("no.such.property") == true
        }
    }

    @Test func propertiesFileParsesCommentsAndRejectsGarbage() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("p-\(UUID().uuidString).properties").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try "# comment\nbootstrap.servers = a:9092\n\n! other\nlinger.ms=7\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(try KafkaConfiguration.load(propertiesFile: path) == ["bootstrap.servers": "a:9092", "linger.ms": "7"])
        try "oops\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: KafkaError.self) { try KafkaConfiguration.load(propertiesFile: path) }
    }
}
