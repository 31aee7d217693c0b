// A backfill's own steps: assign the whole replay topic, report progress, publish final vectors once.
import Foundation
import UserRepKafka
import UserRepState

extension StreamWorker {
    /// Assigns every partition of the replay topics from this store's offset (or its start), up to
    /// their high watermarks as of now.
    func assignReplay(_ topics: [String]) throws {
        var assignment: [KafkaTopicPartition: KafkaOffset] = [:]
        for topic in topics {
            guard let n = try consumer.partitionCount(topic: topic) else { throw KafkaError("replay topic '\(topic)' does not exist") }
            let stored = try store.offsets(topic: topic)
            for p in 0..<Int32(n) {
                let tp = KafkaTopicPartition(topic: topic, partition: p)
                let marks = try consumer.watermarks(tp)
                backfillTargets[tp] = marks.high
                // A backfill has no group: it resumes from this store, or at the oldest record held.
                assignment[tp] = checkpoint.offsets.assigned(tp, stored: stored[p] ?? marks.low, committed: nil)
            }
        }
        try consumer.assign(assignment)
    }

    /// Whether every replay partition has been read to its high watermark as of start-up, and the
    /// last poll left nothing queued (more may be queued past a watermark that lags the log).
    var replayCaughtUp: Bool {
        consumer.lastPollTookAllQueued && backfillTargets.allSatisfy { tp, high in (nextOffsets[tp] ?? 0) >= high }
    }

    /// Backfill's end: every stored user's final vector, once (users of an interrupted and
    /// resumed backfill included).
    func publishBackfill() throws {
        var users = 0
        try forEachStoredPage { keys, states in
            var clock = StageClock()
            for batch in batches.batches {
                try batch.publisher.publish(
                    keys, states, triggers: keys.map { _ in .backfill }, tracks: try tracks.table(covering: states), clock: &clock,
                    metrics: &metrics)
            }
            try checkpoint.flushOutputs()
            users += keys.count
        }
        logger.info("backfill published final vectors", metadata: ["users": "\(users)"])
    }

    /// Calls `body` with every stored user and state, a page of up to 10,000 of one partition at
    /// a time, partition after partition in key order.
    func forEachStoredPage(_ body: ([UserKey], [UserState]) throws -> Void) throws {
        for p in 0..<Int32(inputPartitions) {
            var after: [UInt8]?
            while case let page = try store.users(partition: p, after: after, limit: 10_000), let last = page.last {
                after = last.0.userID
                try body(page.map(\.0), page.map(\.1))
            }
        }
    }

    /// A progress line (events/s, done/total, lag, ETA) at most once a second, or now with `force`.
    func reportProgress(force: Bool) {
        guard isBackfill, let progress, force || Date().timeIntervalSince(lastProgress) >= 1 else { return }
        lastProgress = Date()
        let total = backfillTargets.values.reduce(0, +)
        let done = backfillTargets.reduce(Int64(0)) { $0 + min(nextOffsets[$1.key] ?? 0, $1.value) }
        let elapsed = max(Date().timeIntervalSince(started), 0.001)
        let rate = Double(metrics.recordsRead) / elapsed
        let lag = total - done
        let eta = rate > 0 ? Double(lag) / rate : 0
        progress(
            String(
                format: "backfill: %lld/%lld events (%.0f%%), %.0f events/s, lag %lld, ETA %.0fs",
                done, total, total > 0 ? 100 * Double(done) / Double(total) : 100, rate, lag, eta))
    }
}
