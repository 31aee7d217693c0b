// What a run does with each cycle's changed users: publish them (stream) or remember them (backfill).
import UserRepKafka
import UserRepModel
import UserRepState

/// A cycle's changed users, their new states (serialized in `encoded`, same order) and the trigger
/// of each one's output.
struct CycleChanges {
    var users: [UserKey] = []
    var states: [UserState] = []
    var triggers: [RepresentationTrigger] = []
    /// Timers to schedule with the states (`StreamWorker.timerChanges`).
    var timers: [TimerChange] = []
}

/// The mode-specific part of step 1 of the commit order, chosen once when the worker starts, so the
/// cycle itself has no branch on its mode.
protocol CycleSink: AnyObject {
    /// Produces (or records) what the cycle's changes publish; called inside the checkpoint.
    func emit(_ changes: CycleChanges, encoded: EncodedStates, clock: inout StageClock, metrics: inout WorkerMetrics) throws
    /// Produces, once a timer step's outputs are delivered, a fired-timer record per user it
    /// fired, with the watermark their vectors are as of (`ChangelogRestorer.timerFiredKeyPrefix`):
    /// a restore learns from them that those timers fired, so a restart or a new owner does not
    /// fire them again. Produced with the outputs, such a record could be delivered without them,
    /// and the restore then took a vector never published for published.
    func emitTimersFired(_ users: [UserKey], asOfMs: Int64) throws
}

/// Stream mode: every changed state to the changelog (partition = input partition), then every
/// changed user's vector of every live batch to that batch's output topic.
final class LiveCycleSink: CycleSink {
    private let producer: KafkaProducer
    private let changelog: KafkaOutputTopic
    private let changelogHeader: [KafkaHeader]
    private let batches: LiveBatches
    private let tracks: TrackTableReader

    init(
        producer: KafkaProducer, changelog: KafkaOutputTopic, embeddingBatchID: String, batches: LiveBatches,
        tracks: TrackTableReader
    ) {
        self.producer = producer
        self.changelog = changelog
        changelogHeader = [KafkaHeader(name: ChangelogRestorer.embeddingBatchHeader, string: embeddingBatchID)]
        self.batches = batches
        self.tracks = tracks
    }

    func emit(_ changes: CycleChanges, encoded: EncodedStates, clock: inout StageClock, metrics: inout WorkerMetrics) throws {
        let written = try produceStates(
            changes.users, encoded, to: changelog, headers: changelogHeader, producer: producer, inPlace: true)
        metrics.changelogRecords += written.records
        metrics.changelogBytes += written.bytes
        clock.lap("changelog", into: &metrics)
        // Every live batch from the same states, in the same cycle (and transaction).
        for batch in batches.batches {
            try batch.publisher.publish(
                changes.users, changes.states, triggers: changes.triggers, tracks: try tracks.table(covering: changes.states),
                clock: &clock, metrics: &metrics)
        }
    }

    func emitTimersFired(_ users: [UserKey], asOfMs: Int64) throws {
        let value = Array(String(asOfMs).utf8)
        for user in users {
            let key = [ChangelogRestorer.timerFiredKeyPrefix] + user.userID
            try key.withUnsafeBytes { k in
                try value.withUnsafeBytes { v in
                    try producer.produce(to: changelog, partition: user.partition, key: k, value: v, trackOffset: true)
                }
            }
        }
    }
}

/// Backfill mode: nothing is published per cycle; every stored user's final vector goes out once
/// at the end (`StreamWorker.publishBackfill`).
final class BackfillCycleSink: CycleSink {
    func emit(_ changes: CycleChanges, encoded: EncodedStates, clock: inout StageClock, metrics: inout WorkerMetrics) throws {}
    /// A backfill runs no timers.
    func emitTimersFired(_ users: [UserKey], asOfMs: Int64) throws {}
}

/// Produces the state of each of `users` (`encoded`, same order) to `changelog`, in the user's
/// partition, tracked so that the store's checkpoint can follow the delivered offsets: per user its
/// written tiles, then its head (with `headers`), then tombstones for the tiles it no longer holds
/// (`EncodedStates.forEachRecord`). Returns the records produced and their bytes (keys and values).
/// With `inPlace`, librdkafka reads the values from `encoded`'s bytes, which the producer keeps
/// alive until they are delivered (no copy of the cycle's changelog: heaptrack found 98 MB of
/// copies at the unclustered backlog's peak); a caller that produces many blocks between flushes copies instead, so that
/// the blocks do not pile up.
func produceStates(
    _ users: [UserKey], _ encoded: EncodedStates, to changelog: KafkaOutputTopic, headers: [KafkaHeader], producer: KafkaProducer,
    inPlace: Bool
) throws -> (records: Int, bytes: Int) {
    var records = 0, bytes = 0
    let owner = inPlace ? encoded.bytesOwner : nil
    for i in users.indices {
        let key = users[i]
        try encoded.forEachRecord(i) { tile, value in
            let recordKey = tile.map { TileRecord.key(key.userID, $0) } ?? key.userID
            try recordKey.withUnsafeBytes { k in
                try producer.produce(
                    to: changelog, partition: key.partition, key: k, value: value, headers: tile == nil ? headers : [], trackOffset: true,
                    valueOwner: owner)
            }
            records += 1
            bytes += recordKey.count + (value?.count ?? 0)
        }
    }
    return (records, bytes)
}
