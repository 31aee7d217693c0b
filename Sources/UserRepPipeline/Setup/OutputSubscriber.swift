// Tails the output topic and decodes representation records (`userrep subscribe`, demo, tests).
import UserRepKafka

/// Reads `user-representations` and decodes each record, optionally keeping one batch only.
public final class OutputSubscriber {
    private let consumer: KafkaConsumer
    private let polled: KafkaPolledRecords
    private let format: OutputFormat
    private let batchFilter: String?
    /// Records that failed to decode.
    public private(set) var undecodable = 0
    /// Records read from each partition: every one, whether decoded, filtered out or not. On a
    /// topic that started empty and is never compacted (the embedded cluster), a partition's count
    /// below its high watermark means records were dropped before they were read.
    public private(set) var recordsRead: [Int32: Int64] = [:]

    /// Reads every partition of `topic` from the beginning (`fromBeginning`) or from now on.
    public init(kafka: KafkaConfiguration, topic: String, format: OutputFormat, batchID: String?, fromBeginning: Bool) throws {
        consumer = try KafkaConsumer(configuration: kafka.overriding(["group.id": "userrep-subscriber"]), trackPartitionEnd: true)
        guard let n = try consumer.partitionCount(topic: topic) else { throw KafkaError("output topic '\(topic)' does not exist") }
        var all: [KafkaTopicPartition: KafkaOffset] = [:]
        for p in 0..<Int32(n) { all[KafkaTopicPartition(topic: topic, partition: p)] = fromBeginning ? .beginning : .end }
        try consumer.assign(all)
        polled = KafkaPolledRecords(topics: [topic])
        self.format = format
        self.batchFilter = batchID
    }

    /// Whether every partition has been read to its end.
    public var atEnd: Bool { consumer.partitionsAtEnd.isSuperset(of: consumer.assignment) }

    /// Polls once and returns the decoded records (filtered by batch).
    public func poll(timeoutMs: Int32 = 100) throws -> [RepresentationRecord] {
        try consumer.poll(into: polled, maxMessages: 10_000, timeoutMs: timeoutMs)
        var out: [RepresentationRecord] = []
        for i in 0..<polled.count {
            recordsRead[polled[i].partition, default: 0] += 1
            guard let value = polled[i].value else { continue }
            guard let record = try? RepresentationRecord.decode(value, format: format) else { undecodable += 1; continue }
            if let batchFilter, record.batchID != batchFilter { continue }
            out.append(record)
        }
        return out
    }
}
