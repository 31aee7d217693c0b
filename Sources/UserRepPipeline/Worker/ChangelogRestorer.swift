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
    /// Whether the changelog is written in transactions with the input offsets (`--transactional-id`):
    /// then a restored state's input positions are committed too, and the store's next offsets
    /// move up to them (`StateStore.applyChangelog`), so that a store behind the changelog, with
    /// the group's offsets behind it as well (a replaced disk; offsets expired, or not yet
    /// visible on a broker that answers an offset fetch before a transaction's offsets), does
    /// not read and republish what the restored states already reflect.
    var statesCommitWithOffsets = false
    /// How long a restore may go without reading a record before it gives up.
    var stallTimeoutSeconds = 120.0
    /// Called after every batch of records read (the worker's liveness: a restore is progress).
    var onProgress: (() -> Void)?
    /// The most records one poll takes (the worker's `--max-poll-records`, at most 5,000).
    var maxRecordsPerPoll = 5_000
    /// How long the fetches that confirm a changelog's end past its listed high watermark may take.
    var probeSeconds = 10.0

    /// What one partition's restore did.
    struct Outcome {
        var records = 0
        /// Records behind the state already held (a zombie's late writes), skipped.
        var stale = 0
        var rebuilt = false
    }

    /// Replays changelog partitions `partitions` into `store` using `consumer` (assign mode, with
    /// end-of-partition tracking), all of them at once: a partition is done when its next offset
    /// reaches the high watermark it had when the restore began, or at its end (a transactional
    /// changelog ends in commit markers, which take offsets but are never delivered), and a poll
    /// has then found nothing more queued. That last condition matters on a broker whose high
    /// watermark lags its log: Tansu answers the base offset of the last record batch plus one,
    /// so the rest of that batch lies past the watermark. It came in the same fetch response as
    /// the record at the watermark, so it is queued behind it; a restore that stopped at the
    /// watermark when a poll's record limit fell inside that batch lost the rest, and the new
    /// owner then resumed after listens its state lacked. (One partition at a time, each waited
    /// about a second for its end, so a restart with a record or two in each of 320 partitions
    /// spent minutes restoring.) A checkpoint past a partition's listed watermark is checked
    /// against a fetch response's (`KafkaConsumer.watermarks(topic:partitions:confirmingPast:…)`)
    /// before the partition is rebuilt: on Tansu every restart rebuilt every partition.
    func restore(partitions: [Int32], into store: StateStore, consumer: KafkaConsumer) throws -> [Int32: Outcome] {
        var outcomes: [Int32: Outcome] = [:]
        var pending: [Int32: Progress] = [:]
        var checkpoints: [Int32: Int64] = [:]
        for partition in partitions { checkpoints[partition] = try store.changelogCheckpoint(partition: partition) }
        let ends = try consumer.watermarks(
            topic: topic, partitions: partitions, confirmingPast: checkpoints, timeoutSeconds: probeSeconds, onPoll: onProgress)
        for partition in partitions {
            let tp = KafkaTopicPartition(topic: topic, partition: partition)
            guard let marks = ends[partition] else { continue }
            var outcome = Outcome()
            let checkpoint = checkpoints[partition]
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
            outcomes[partition] = outcome
            guard start < marks.high else { continue }
            logger.info(
                "restoring state from the changelog",
                metadata: ["partition": "\(tp)", "records": "\(marks.high - start)", "from": "\(start)"])
            pending[partition] = Progress(tp: tp, start: start, high: marks.high, next: start)
        }
        guard !pending.isEmpty else { return outcomes }
        try consumer.assign(Dictionary(uniqueKeysWithValues: pending.values.map { ($0.tp, KafkaOffset.at($0.start)) }))
        let polled = KafkaPolledRecords(topics: [topic])
        defer { polled.reset() }
        let began = Date()
        var lastRecord = Date(), lastReport = Date()
        while true {
            if consumer.lastPollTookAllQueued {
                for (p, progress) in pending where progress.next >= progress.high || consumer.partitionsAtEnd.contains(progress.tp) {
                    finish(p, progress, outcome: outcomes[p] ?? Outcome(), seconds: Date().timeIntervalSince(began))
                    pending.removeValue(forKey: p)
                }
            }
            if pending.isEmpty { break }
            // Once every partition has reached its watermark, only what is already queued is wanted.
            let reached = pending.values.allSatisfy { $0.next >= $0.high }
            try consumer.poll(into: polled, maxMessages: max(1, maxRecordsPerPoll), timeoutMs: reached ? 0 : 500)
            onProgress?()
            var batches: [Int32: Batch] = [:]
            for i in 0..<polled.count {
                let m = polled[i]
                guard var progress = pending[m.partition], m.offset >= progress.next else { continue }
                progress.next = m.offset + 1
                pending[m.partition] = progress
                try batches[m.partition, default: Batch()].add(m, at: progress.tp, expectedBatch: embeddingBatchID)
            }
            for (p, batch) in batches {
                guard let progress = pending[p] else { continue }
                // Before the states it covers: a crash in between leaves the filter, not the states.
                if let handOff = batch.handOff { try store.recordHandOff(handOff) }
                var outcome = outcomes[p] ?? Outcome()
                outcome.stale += try store.applyChangelog(
                    partition: p, records: batch.records, timersFired: batch.timersFired, checkpoint: progress.next,
                    advancingOffsetsOf: statesCommitWithOffsets ? inputTopics : nil)
                outcome.records += batch.records.count + batch.firedRecords
                outcomes[p] = outcome
            }
            if polled.count > 0 {
                lastRecord = Date()
            } else if Date().timeIntervalSince(lastRecord) > stallTimeoutSeconds,
                let stuck = pending.values.min(by: { $0.tp.partition < $1.tp.partition })
            {
                throw KafkaError(
                    "restore of \(stuck.tp) read nothing for \(Int(stallTimeoutSeconds)) s at offset \(stuck.next) of \(stuck.high)")
            }
            if Date().timeIntervalSince(lastReport) >= 1 {
                lastReport = Date()
                let total = pending.values.reduce(Int64(0)) { $0 + $1.high - $1.start }
                let done = pending.values.reduce(Int64(0)) { $0 + min($1.next, $1.high) - $1.start }
                logger.info(
                    "restoring",
                    metadata: ["partitions": "\(pending.count)", "progress": "\(done)/\(total) (\(100 * done / max(total, 1))%)"])
            }
        }
        return outcomes
    }

    /// Where one partition's restore stands.
    private struct Progress {
        let tp: KafkaTopicPartition
        let start: Int64
        /// The high watermark when the restore began.
        let high: Int64
        /// The offset after the newest record read.
        var next: Int64
    }

    /// The records of one partition in one poll, sorted into what `applyChangelog` takes.
    private struct Batch {
        var records: [ChangelogStateRecord] = []
        var timersFired: [[UInt8]: Int64] = [:]
        var firedRecords = 0
        var handOff: Int64?

        mutating func add(_ m: KafkaMessage, at tp: KafkaTopicPartition, expectedBatch: String) throws {
            guard let key = m.key else { throw StateCorruption(message: "changelog record \(tp)@\(m.offset) has no key") }
            if key.first == ChangelogRestorer.timerFiredKeyPrefix {
                let userID = Array(key.dropFirst())
                guard let value = m.value, let ms = Int64(String(decoding: value, as: UTF8.self)) else {
                    throw StateCorruption(message: "fired-timer record \(tp)@\(m.offset) has no time in decimal")
                }
                timersFired[userID] = max(timersFired[userID] ?? ms, ms)
                firedRecords += 1
            } else if let (userID, tile) = try ChangelogRestorer.tileKey(key, at: tp, offset: m.offset) {
                records.append(ChangelogStateRecord(userID: userID, tile: tile, value: m.value.map { Array($0) }))
            } else if let value = m.value {
                guard let b = m.header(named: ChangelogRestorer.embeddingBatchHeader), b.elementsEqual(expectedBatch.utf8) else {
                    let found =
                        m.header(named: ChangelogRestorer.embeddingBatchHeader).map { String(decoding: $0, as: UTF8.self) } ?? "none"
                    throw StateCorruption(
                        message:
                            "changelog \(tp)@\(m.offset) holds state of embedding batch '\(found)' but the model needs '\(expectedBatch)'; give each embedding batch its own --changelog-topic"
                    )
                }
                if let h = m.header(named: ChangelogRestorer.handOffHeader) {
                    guard let ms = Int64(String(decoding: h, as: UTF8.self)) else {
                        throw StateCorruption(
                            message: "changelog record \(tp)@\(m.offset) has a malformed \(ChangelogRestorer.handOffHeader) header")
                    }
                    handOff = max(handOff ?? ms, ms)
                }
                records.append(ChangelogStateRecord(userID: Array(key), value: Array(value)))
            } else {
                records.append(ChangelogStateRecord(userID: Array(key), value: nil))
            }
        }
    }

    /// Logs a finished partition's restore, with any zombie records it skipped.
    private func finish(_ partition: Int32, _ progress: Progress, outcome: Outcome, seconds: Double) {
        if outcome.stale > 0 {
            logger.warning(
                "skipped changelog records older than the state they follow (written by a worker after it lost the partition)",
                metadata: ["partition": "\(progress.tp)", "records": "\(outcome.stale)"])
        }
        logger.info(
            "restored state from the changelog",
            metadata: ["partition": "\(progress.tp)", "records": "\(outcome.records)", "seconds": "\(String(format: "%.2f", seconds))"])
    }

    /// The user id and tile of a tile record's key, nil for a user's own key.
    static func tileKey(_ key: UnsafeRawBufferPointer, at tp: KafkaTopicPartition, offset: Int64) throws -> ([UInt8], TileID)? {
        do { return try TileRecord.split(key).map { ($0.userKey, $0.id) } } catch let error as StateCorruption {
            throw StateCorruption(message: "changelog record \(tp)@\(offset): \(error.message)")
        }
    }
}
