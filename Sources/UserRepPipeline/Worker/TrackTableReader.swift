// Reads the compacted track-embeddings topic into a TrackTable and keeps it current.
import Logging
import UserRepKafka
import UserRepModel

/// Every worker reads all partitions of the track topic (a global table, like a Kafka Streams
/// GlobalKTable): fully at start-up, then whatever arrives, between poll cycles.
final class TrackTableReader {
    private let reader: WholeTopicReader
    private var topic: String { reader.topic }
    private(set) var table: TrackTable
    private let logger: Logger
    /// Per track partition, the offset below which invalid records were dead-lettered already
    /// (by an earlier run of this worker): they are counted, not dead-lettered again.
    private let deadLettered: [Int32: Int64]
    /// Invalid track records, handed to the worker for dead-lettering.
    var rejected: [(record: DeadLetterRecord, reason: InputRejection)] = []
    var applied = 0, otherBatch = 0
    /// Records of the model's batch whose dimensions differ from the model's, and the first
    /// such dimensions seen (audio, collaborative).
    private(set) var otherDims = 0
    private var seenDims: (audio: Int, collaborative: Int)?
    /// Embedding batches seen on the topic other than the model's (a few, for the error message).
    private var otherBatches: Set<String> = []

    init(
        kafka: KafkaConfiguration, topic: String, batchID: String, dims: ModelManifest.EmbeddingDims,
        deadLettered: [Int32: Int64] = [:], logger: Logger
    ) throws {
        reader = try WholeTopicReader(
            kafka: kafka, topic: topic, groupID: "userrep-track-table",
            missing: "track topic '\(topic)' does not exist; create it or import tracks with `userrep tracks import`")
        self.logger = logger
        self.deadLettered = deadLettered
        table = TrackTable(batchID: batchID, dims: dims)
    }

    /// Reads until every partition has reached its end as of now; false if `shouldStop` ended it first.
    func catchUp(shouldStop: () -> Bool) throws -> Bool {
        while !reader.isAtEnd {
            guard !shouldStop() else { return false }
            try poll(timeoutMs: 100)
        }
        logger.info(
            "track table loaded",
            metadata: ["tracks": "\(table.count)", "batch": "\(table.batchID)", "other_batch_skipped": "\(otherBatch)"])
        return true
    }

    /// Throws unless the table holds tracks of the model's embedding batch with the model's
    /// dimensions. A worker with no usable track would dead-letter every listen as
    /// `unknown-track` and commit them: a misconfiguration must stop it instead.
    func requireFitsModel() throws {
        let want = "\(table.dims.audio)+\(table.dims.collaborative)"
        if let seen = seenDims, otherDims > table.count {
            throw WorkerError(
                "the track table (topic '\(topic)') holds \(otherDims) tracks of embedding batch '\(table.batchID)' with \(seen.audio)+\(seen.collaborative) dimensions, but the model expects \(want) (and only \(table.count) tracks fit); the model and the track table do not belong together"
            )
        }
        guard table.count > 0 else {
            let others = otherBatches.sorted().prefix(3).map { "'\($0)'" }.joined(separator: ", ")
            throw WorkerError(
                "the track table (topic '\(topic)') holds no track of the model's embedding batch '\(table.batchID)'"
                    + (otherBatch > 0 ? " (\(otherBatch) records of other batches: \(others))" : " (the topic has no valid track record)")
                    + "; every listen would be dead-lettered. Import that batch's tracks (`userrep tracks import`) or run the model of the batch the table holds"
            )
        }
    }

    /// Applies whatever track records are waiting (without blocking when `timeoutMs` is 0).
    func poll(timeoutMs: Int32 = 0) throws {
        try reader.poll(maxMessages: 10_000, timeoutMs: timeoutMs) { m in
            guard let value = m.value else {
                if let key = m.key { table.remove(trackID: Array(key)) }
                return
            }
            do throws(InputRejection) {
                let record = try TrackRecord.parse(value, audioDims: table.dims.audio, collaborativeDims: table.dims.collaborative)
                guard record.batchID == table.batchID else {
                    otherBatch += 1
                    if otherBatches.count < 8 { otherBatches.insert(record.batchID) }
                    return
                }
                guard let key = m.key, key.elementsEqual(record.trackID) else {
                    throw InputRejection(
                        .keyMismatch, m.key == nil ? "track record has no key; key it by track_id" : "record key differs from track_id")
                }
                table.upsert(trackID: record.trackID, artistID: record.artistID, embedding: record.audio + record.collaborative)
                applied += 1
            } catch {
                if error.reason == .invalidField, let dims = TrackRecord.dimensions(value), dims.batchID == table.batchID {
                    otherDims += 1
                    if seenDims == nil { seenDims = (dims.audio, dims.collaborative) }
                }
                guard m.offset >= deadLettered[m.partition] ?? 0 else { return }
                rejected.append((DeadLetterRecord(message: m), error))
            }
        }
    }
}
