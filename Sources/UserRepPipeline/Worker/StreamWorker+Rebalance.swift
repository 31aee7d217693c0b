// A stream worker's part in the group's rebalances: restore what it is given, commit what it gives back.
import Foundation
import UserRepKafka

extension StreamWorker {
    /// Restores each assigned partition's state from the changelog, then starts it at the larger of
    /// this store's offset and the group's committed offset (or at the beginning). Kafka errors
    /// (a broker away, a coordinator moving) are retried with backoff for about a minute; a
    /// restore continues from its last checkpoint.
    public func partitionsAssigned(_ partitions: [KafkaTopicPartition]) -> [KafkaTopicPartition: KafkaOffset] {
        logger.info("partitions assigned", metadata: ["partitions": "\(partitions.map(\.description).sorted())"])
        metrics.assignments += 1
        var attempt = 0
        while true {
            do {
                let starts = try startOffsets(partitions)
                onAssigned?(partitions)
                return starts
            } catch let error as KafkaError where attempt < 8 && !shouldStop() {
                attempt += 1
                let delay = min(1 << attempt, 10)
                logger.warning("cannot prepare assigned partitions, retrying in \(delay) s (attempt \(attempt) of 8): \(error)")
                // In small steps, so that a stop meanwhile is not kept waiting.
                for _ in 0..<(delay * 10) where !shouldStop() {
                    health.evaluate()
                    usleep(100_000)
                }
            } catch {
                // Thrown from `run` after this poll; nothing is processed meanwhile.
                rebalanceError = error
                return [:]
            }
        }
    }

    /// Delivers the outputs of steps that wait for the next flush (a timer step's ride on the next
    /// cycle's flush), then, within half the shutdown bound, the records queued once steps'
    /// outputs were delivered (fired-timer records: without them the next owner fires those
    /// timers again), and commits the revoked partitions' offsets still due (every finished cycle
    /// is already in the store and the changelog), so their next owner starts where this worker
    /// stopped and its restore, which reads each changelog partition to the end it has when the
    /// restore begins, finds every record this worker wrote.
    public func partitionsRevoked(_ partitions: [KafkaTopicPartition]) {
        if checkpoint.deliveryPending {
            do { try checkpoint.flushOutputs() } catch {
                logger.warning("could not deliver the last timer or batch-job outputs before giving partitions up: \(error)")
            }
        }
        if !checkpoint.deliveryPending { checkpoint.deliverConfirmations(timeoutMs: config.shutdownTimeoutMs / 2) }
        checkpoint.release(partitions)
        store.evictCache(partitions: Set(partitions.map(\.partition)))
        for tp in partitions { watermarks.removeValue(forKey: tp.partition) }
        logger.info("partitions revoked", metadata: ["partitions": "\(partitions.map(\.description).sorted())"])
    }

    /// Restores `partitions` and decides where each starts. (Only a group member is assigned
    /// partitions by the group; a backfill assigns its own.)
    private func startOffsets(_ partitions: [KafkaTopicPartition]) throws -> [KafkaTopicPartition: KafkaOffset] {
        try restore(Set(partitions.map(\.partition)))
        // A restore may have brought a seeded state's hand-off time.
        if !isBackfill { handOffMs = try store.handOffMs() }
        try prepareTimers(Set(partitions.map(\.partition)))
        let committed = try consumer.committed(partitions)
        var starts: [KafkaTopicPartition: KafkaOffset] = [:]
        for topic in Set(partitions.map(\.topic)) {
            let stored = try store.offsets(topic: topic)
            for tp in partitions where tp.topic == topic {
                starts[tp] = checkpoint.offsets.assigned(tp, stored: stored[tp.partition], committed: committed[tp])
            }
        }
        // A partition neither the store nor the group knows starts at its first record, asked
        // here rather than left to librdkafka as a logical offset: librdkafka looks one up only
        // once the partition's broker thread holds it, and otherwise half a second later, so a new
        // group's first cycle held some partitions and not others (and the co-partitioning check
        // saw listens alone, and let them commit). After the first query without an answer,
        // librdkafka looks the rest up (a broker away would otherwise hold the rebalance 5 s a
        // partition).
        for (tp, start) in starts.sorted(by: { $0.key.description < $1.key.description }) where start == .beginning {
            guard let low = try? consumer.watermarks(tp, timeoutMs: 5_000).low else { break }
            starts[tp] = .at(low)
        }
        logger.debug("start offsets", metadata: ["starts": "\(starts.map { "\($0.key)=\($0.value)" }.sorted())"])
        return starts
    }

    /// The restore consumer's properties: the worker's, in a group of its own, and always
    /// `read_committed` whatever `-X isolation.level` says, so that a restore never applies the
    /// changelog records of an aborted transaction (a cycle whose outputs were never published).
    static func restoreConsumerConfiguration(_ kafka: KafkaConfiguration, groupID: String) -> KafkaConfiguration {
        kafka.overriding(["group.id": "\(groupID)-restore", "isolation.level": "read_committed"])
    }

    /// Replays the changelog of `partitions` into the store.
    private func restore(_ partitions: Set<Int32>) throws {
        let reader = try KafkaConsumer(
            configuration: Self.restoreConsumerConfiguration(config.kafka, groupID: config.groupID), trackPartitionEnd: true)
        defer { reader.close() }
        for outcome in try restorer.restore(partitions: partitions.sorted(), into: store, consumer: reader).values {
            if outcome.records > 0 || outcome.rebuilt {
                metrics.partitionsRestored += 1
                metrics.restoredRecords += outcome.records
            }
        }
    }
}
