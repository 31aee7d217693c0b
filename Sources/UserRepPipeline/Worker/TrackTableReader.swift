// Reads the compacted track-embeddings topic into a TrackTable and keeps it current.
import Logging
import UserRepKafka
import UserRepModel

/// Every worker reads all partitions of the track topic (a global table, like a Kafka Streams
/// GlobalKTable): fully at start-up, then whatever arrives, between poll cycles.
final class TrackTableReader {
    private let consumer: KafkaConsumer
    private let batch: KafkaMessageBatch
    private let topic: String
    private(set) var table: TrackTable
    private let logger: Logger
    /// Invalid track records, handed to the worker for dead-lettering.
    var rejected: [(record: DeadLetterRecord, reason: InputRejection)] = []
    var applied = 0, otherBatch = 0

    init(kafka: KafkaConfiguration, topic: String, batchID: String, dims: ModelManifest.EmbeddingDims, logger: Logger) throws {
        consumer = try KafkaConsumer(
            configuration: kafka.overriding(["group.id": "userrep-track-table", "enable.auto.commit": "false"]),
            trackPartitionEnd: true)
        batch = KafkaMessageBatch(topics: [topic])
        self.topic = topic
        self.logger = logger
        table = TrackTable(batchID: batchID, dims: dims)
        guard let partitions = try consumer.partitionCount(topic: topic) else {
            throw KafkaError("track topic '\(topic)' does not exist; create it or import tracks with `userrep tracks import`")
        }
        var all: [KafkaTopicPartition: KafkaOffset] = [:]
        for p in 0..<Int32(partitions) { all[KafkaTopicPartition(topic: topic, partition: p)] = .beginning }
        try consumer.assign(all)
    }

    /// Reads until every partition has reached its end as of now.
    func catchUp(shouldStop: () -> Bool) throws {
        while !shouldStop() {
            try poll(timeoutMs: 100)
            if consumer.partitionsAtEnd.isSuperset(of: consumer.assignment) { break }
        }
        logger.info("track table loaded", metadata: ["tracks": "\(table.count)", "batch": "\(table.batchID)", "other_batch_skipped": "\(otherBatch)"])
    }

    /// Applies whatever track records are waiting (without blocking when `timeoutMs` is 0).
    func poll(timeoutMs: Int32 = 0) throws {
        try consumer.poll(into: batch, maxMessages: 10_000, timeoutMs: timeoutMs)
        for i in 0..<batch.count {
            let m = batch[i]
            guard let value = m.value else {
                if let key = m.key { table.remove(trackID: Array(key)) }
                continue
            }
            do {
                let record = try TrackRecord.parse(value, audioDims: table.dims.audio, collaborativeDims: table.dims.collaborative)
                guard record.batchID == table.batchID else { otherBatch += 1; continue }
                table.upsert(trackID: record.trackID, artistID: record.artistID, embedding: record.audio + record.collaborative)
                applied += 1
            } catch {
                rejected.append((DeadLetterRecord(message: m), error))
            }
        }
    }
}
