// Brings a partition's local state up to the changelog before the worker processes it.
import Foundation
import Logging
import UserRepKafka
import UserRepState

/// The changelog's key spaces (`schemas/state-changelog.md`).
public enum ChangelogKey {
    /// First key byte of a fired-timer record: the byte 0xFF, then the user id (which, valid UTF-8,
    /// never holds that byte, so no state's key equals it). Its value is the as-of time of the
    /// user's newest timer-fired vector, ms since the epoch in decimal; a restore keeps it as the
    /// user's last fired timer (`StateStore.applyChangelog`). Every other key is a user id (the
    /// user's head) or a user id, 0xFF and a tile id (one tile of the user's state, `TileRecord`).
    public static let timerFiredPrefix: UInt8 = 0xFF
}

/// Reads changelog partitions into the state store when a worker is assigned input partitions.
///
/// The changelog is the authority on state (the Kafka Streams model): every cycle writes each
/// changed user's new tiles and head to changelog partition p (= its input partition) and waits for the
/// write before committing anything. A store is current for p up to its checkpoint (the changelog
/// offset after the newest record it wrote or read). Restoring replays the changelog from that
/// checkpoint to the end; a store without a checkpoint for p, or with one the topic no longer has,
/// drops p and replays from the beginning (compaction keeps every user's newest head and every
/// tile it refers to).
struct ChangelogRestorer {
    /// Header naming the embedding batch of a changelog record's state.
    static let embeddingBatchHeader = "embedding-batch-id"
    /// Header of a state seeded from a replay (`backfill --seed-group`): its hand-off time, ms
    /// since the epoch in decimal. The live topics add only later events to it.
    static let handOffHeader = "hand-off-ms"
    /// First key byte of a fired-timer record: `ChangelogKey.timerFiredPrefix`.
    static let timerFiredKeyPrefix = ChangelogKey.timerFiredPrefix

    let topic: String
    let embeddingBatchID: String
    /// Input topics whose offsets are dropped with a partition's users.
    let inputTopics: [String]
    let logger: Logger
    /// How long a restore may go without reading a record before it gives up.
    var stallTimeoutSeconds = 120.0
    /// Called after every batch of records read (the worker's liveness: a restore is progress).
    var onProgress: (() -> Void)?

    /// What one partition's restore did.
    struct Outcome {
        var records = 0
        /// Records behind the state already held (a zombie's late writes), skipped.
        var stale = 0
        var rebuilt = false
    }

    /// Replays changelog partition `partition` into `store` using `consumer` (assign mode, with
    /// end-of-partition tracking).
    func restore(partition: Int32, into store: StateStore, consumer: KafkaConsumer) throws -> Outcome {
        let tp = KafkaTopicPartition(topic: topic, partition: partition)
        let marks = try consumer.watermarks(tp)
        var outcome = Outcome()
        let checkpoint = try store.changelogCheckpoint(partition: partition)
        let start: Int64
        if let checkpoint, checkpoint >= marks.low, checkpoint <= marks.high {
            start = checkpoint
        } else {
            if let checkpoint {
                logger.warning(
                    "local state of partition \(partition) is at changelog offset \(checkpoint), outside \(tp)'s \(marks.low)..<\(marks.high); rebuilding it from the changelog"
                )
            }
            start = marks.low
            try store.resetPartition(partition, topics: inputTopics, checkpoint: start)
            outcome.rebuilt = true
        }
        guard start < marks.high else { return outcome }
        let total = marks.high - start
        logger.info("restoring state from the changelog", metadata: ["partition": "\(tp)", "records": "\(total)", "from": "\(start)"])
        try consumer.assign([tp: .at(start)])
        let polled = KafkaPolledRecords(topics: [topic])
        let expectedBatch = Array(embeddingBatchID.utf8)
        let began = Date()
        var lastRecord = Date(), lastReport = Date()
        var next = start
        // Until end-of-partition rather than until an offset: a transactional changelog ends in
        // commit markers, which take offsets but are never delivered.
        while !consumer.partitionsAtEnd.contains(tp) {
            try consumer.poll(into: polled, maxMessages: 5_000, timeoutMs: 500)
            onProgress?()
            var records: [ChangelogStateRecord] = []
            var timersFired: [[UInt8]: Int64] = [:]
            var firedRecords = 0
            var handOff: Int64?
            for i in 0..<polled.count {
                let m = polled[i]
                guard m.partition == partition, m.offset >= next else { continue }
                next = m.offset + 1
                guard let key = m.key else { throw StateCorruption(message: "changelog record \(tp)@\(m.offset) has no key") }
                if key.first == Self.timerFiredKeyPrefix {
                    let userID = Array(key.dropFirst())
                    guard let value = m.value, let ms = Int64(String(decoding: value, as: UTF8.self)) else {
                        throw StateCorruption(message: "fired-timer record \(tp)@\(m.offset) has no time in decimal")
                    }
                    timersFired[userID] = max(timersFired[userID] ?? ms, ms)
                    firedRecords += 1
                } else if let (userID, tile) = try Self.tileKey(key, at: tp, offset: m.offset) {
                    records.append(ChangelogStateRecord(userID: userID, tile: tile, value: m.value.map { Array($0) }))
                } else if let value = m.value {
                    guard let b = m.header(named: Self.embeddingBatchHeader), b.elementsEqual(expectedBatch) else {
                        let found = m.header(named: Self.embeddingBatchHeader).map { String(decoding: $0, as: UTF8.self) } ?? "none"
                        throw StateCorruption(
                            message:
                                "changelog \(tp)@\(m.offset) holds state of embedding batch '\(found)' but the model needs '\(embeddingBatchID)'; give each embedding batch its own --changelog-topic"
                        )
                    }
                    if let h = m.header(named: Self.handOffHeader) {
                        guard let ms = Int64(String(decoding: h, as: UTF8.self)) else {
                            throw StateCorruption(
                                message: "changelog record \(tp)@\(m.offset) has a malformed \(Self.handOffHeader) header")
                        }
                        handOff = max(handOff ?? ms, ms)
                    }
                    records.append(ChangelogStateRecord(userID: Array(key), value: Array(value)))
                } else {
                    records.append(ChangelogStateRecord(userID: Array(key), value: nil))
                }
            }
            if polled.count > 0 {
                lastRecord = Date()
                // Before the states it covers: a crash in between leaves the filter, not the states.
                if let handOff { try store.recordHandOff(handOff) }
                outcome.stale += try store.applyChangelog(
                    partition: partition, records: records, timersFired: timersFired, checkpoint: next)
                outcome.records += records.count + firedRecords
            } else if Date().timeIntervalSince(lastRecord) > stallTimeoutSeconds {
                throw KafkaError("restore of \(tp) read nothing for \(Int(stallTimeoutSeconds)) s at offset \(next) of \(marks.high)")
            }
            if Date().timeIntervalSince(lastReport) >= 1 {
                lastReport = Date()
                let done = min(next, marks.high) - start
                logger.info("restoring", metadata: ["partition": "\(tp)", "progress": "\(done)/\(total) (\(100 * done / max(total, 1))%)"])
            }
        }
        polled.reset()
        if outcome.stale > 0 {
            logger.warning(
                "skipped changelog records older than the state they follow (written by a worker after it lost the partition)",
                metadata: ["partition": "\(tp)", "records": "\(outcome.stale)"])
        }
        logger.info(
            "restored state from the changelog",
            metadata: [
                "partition": "\(tp)", "records": "\(outcome.records)",
                "seconds": "\(String(format: "%.2f", Date().timeIntervalSince(began)))",
            ])
        return outcome
    }

    /// The user id and tile of a tile record's key, nil for a user's own key.
    static func tileKey(_ key: UnsafeRawBufferPointer, at tp: KafkaTopicPartition, offset: Int64) throws -> ([UInt8], TileID)? {
        do { return try TileRecord.split(key).map { ($0.userKey, $0.id) } } catch let error as StateCorruption {
            throw StateCorruption(message: "changelog record \(tp)@\(offset): \(error.message)")
        }
    }
}
