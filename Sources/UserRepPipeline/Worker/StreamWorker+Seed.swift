// A seeding backfill's end: every user's state into a stream group's changelog, as of the hand-off time.
import Foundation
import UserRepKafka
import UserRepState

extension StreamWorker {
    /// Writes every stored user's state to changelog `topic` (partition = the user's partition)
    /// with the hand-off time `handOffMs`, and rewrites it in the store with no input position, so
    /// that the seeded group's workers, on this state directory or restoring from the changelog,
    /// read their live topics from the start and apply only the events after `handOffMs`. Refuses
    /// a changelog holding records other than an earlier seed of this store with the same time.
    func seedChangelog(topic: String, handOffMs: Int64) throws {
        let earlier = try store.unfinishedSeedMs() ?? store.handOffMs()
        if let earlier, earlier != handOffMs {
            throw WorkerError(
                "this state was seeded with hand-off time \(earlier) ms, not \(handOffMs) (--until); seed again from a new --state-dir")
        }
        for p in 0..<Int32(inputPartitions) where earlier == nil {
            let marks = try consumer.watermarks(KafkaTopicPartition(topic: topic, partition: p))
            guard marks.high == 0 else {
                throw WorkerError(
                    "changelog '\(topic)' already holds records (partition \(p) ends at offset \(marks.high)): a group has worked on it. Seed a group that has never run (--seed-group), whose changelog is new and empty"
                )
            }
        }
        try store.beginSeed(handOffMs)
        let changelog = try producer.openTopic(topic)
        let headers = [
            KafkaHeader(name: ChangelogRestorer.embeddingBatchHeader, string: store.embeddingBatchID),
            KafkaHeader(name: ChangelogRestorer.handOffHeader, string: String(handOffMs)),
        ]
        var encoded = EncodedStates()
        var seeded = 0
        try forEachStoredPage { users, page in
            // Positions in the replay mean nothing in the live topics: those are read from their
            // start, and the hand-off time decides what is new.
            let states = page.map(\.withoutAppliedOffsets)
            // Every tile: the group's changelog is empty (the store rewrites the same tiles).
            encoded.encode(states, previous: nil, threads: config.computeThreads)
            // Copied: the pages are not flushed one by one, and in-place blocks would pile up.
            let written = try produceStates(users, encoded, to: changelog, headers: headers, producer: producer, inPlace: false)
            metrics.changelogRecords += written.records
            metrics.changelogBytes += written.bytes
            try store.commit(users: users, states: states, encoded: encoded, offsets: [])
            seeded += users.count
            progress?("seeding \(topic): \(seeded) users")
        }
        try checkpoint.flushOutputs()
        let checkpoints = Dictionary(uniqueKeysWithValues: producer.takeDeliveredOffsets().map { ($0.key.partition, $0.value) })
        try store.finishSeed(handOffMs, checkpoints: checkpoints)
        logger.info(
            "seeded the group's changelog", metadata: ["changelog": "\(topic)", "users": "\(seeded)", "hand_off_ms": "\(handOffMs)"])
    }
}
