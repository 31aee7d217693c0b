// One topic read whole from its start, by assignment: how the worker reads its global tables.
import UserRepKafka

/// Every partition of one topic read from its start without group membership (like a Kafka Streams
/// GlobalKTable): the track table and the batch registry. Knows where it has read to, and so
/// whether it is at the end.
final class WholeTopicReader {
    /// Topic name.
    let topic: String
    private let consumer: KafkaConsumer
    private let polled: KafkaPolledRecords
    /// Per partition, the offset after the newest record read.
    private var next: [Int32: Int64] = [:]
    /// Per partition, the high watermark asked for at start-up (if `startAt` asked).
    private let startHighs: [Int32: Int64]

    /// Assigns every partition of `topic` (consumer `group.id` `groupID`, never committed) from
    /// the offset `startAt` gives for it, or from its start; throws `missing` if the topic does not
    /// exist. `startAt` is called once with the partition count and a way to ask for every
    /// partition's watermarks, each high one confirmed by a fetch where the positions given lie
    /// past it (`KafkaConsumer.watermarks(topic:partitions:confirmingPast:…)`).
    init(
        kafka: KafkaConfiguration, topic: String, groupID: String, missing: @autoclosure () -> String,
        startAt: (_ partitions: Int, _ watermarks: (_ positions: [Int32: Int64]) throws -> [Int32: KafkaWatermarks]) throws
            -> [Int32: Int64] = { _, _ in [:] }
    ) throws {
        consumer = try KafkaConsumer(
            configuration: kafka.overriding(["group.id": groupID, "enable.auto.commit": "false"]), trackPartitionEnd: true)
        polled = KafkaPolledRecords(topics: [topic])
        self.topic = topic
        guard let partitions = try consumer.partitionCount(topic: topic) else { throw KafkaError(missing()) }
        let consumer = consumer
        var queried: [Int32: Int64] = [:]
        let starts = try startAt(partitions) { positions in
            let marks = try consumer.watermarks(
                topic: topic, partitions: Array(0..<Int32(partitions)), confirmingPast: positions, timeoutSeconds: 10)
            queried = marks.mapValues(\.high)
            return marks
        }
        startHighs = queried
        var all: [KafkaTopicPartition: KafkaOffset] = [:]
        for p in 0..<Int32(partitions) {
            let start = starts[p].map { KafkaOffset.at($0) } ?? .beginning
            all[KafkaTopicPartition(topic: topic, partition: p)] = start
            if let at = starts[p] { next[p] = at }
        }
        try consumer.assign(all)
    }

    /// Polls up to `maxMessages` records (without blocking when `timeoutMs` is 0) and hands each to
    /// `body`, in order.
    func poll(maxMessages: Int, timeoutMs: Int32, _ body: (KafkaMessage) throws -> Void) throws {
        try consumer.poll(into: polled, maxMessages: maxMessages, timeoutMs: timeoutMs)
        for i in 0..<polled.count {
            let m = polled[i]
            next[m.partition] = max(next[m.partition] ?? 0, m.offset + 1)
            try body(m)
        }
    }

    /// Whether every partition is read to its end: its end-of-partition event came, or the high
    /// watermark its last fetch response reported is reached. The second needs no further fetch:
    /// an end-of-partition event waits for one more long-poll fetch at the end (up to
    /// `fetch.wait.max.ms`), which took half of a 1000-track start-up.
    var isAtEnd: Bool {
        consumer.assignment.allSatisfy { tp in
            if consumer.partitionsAtEnd.contains(tp) { return true }
            // Before the first fetch answers: a partition started at its end needs no fetch at all.
            guard let high = consumer.cachedHighWatermark(tp) ?? startHighs[tp.partition] else { return false }
            return (next[tp.partition] ?? 0) >= high
        }
    }

    /// Whether every record on the topic as of now has been read, asking the brokers for the high
    /// watermarks (not the last fetch's).
    func isCaughtUp() throws -> Bool {
        for tp in consumer.assignment where (next[tp.partition] ?? 0) < (try consumer.watermarks(tp).high) { return false }
        return true
    }
}
