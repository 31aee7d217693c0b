// Which batch jobs a worker owes, and how fast it may run them (pure).
import Foundation

/// One batch job on one partition, with where it has got to.
struct BatchJob: Equatable {
    let kind: BatchJobKind
    let batchID: String
    /// The batch entry's `promotedVersion`.
    let epoch: Int
    let partition: Int32
    /// The last user id handled; nil before the first.
    var afterUser: [UInt8]?
    var users: Int

    /// The job's progress record.
    func progress(done: Bool, atMs now: Int64) -> BatchJobProgress {
        BatchJobProgress(
            kind: kind, batchID: batchID, epoch: epoch, partition: partition, afterUser: afterUser, users: users, done: done, updatedMs: now
        )
    }
}

/// The jobs a worker owes: for every batch of its embedding batch and every partition it owns, a
/// re-encode while the batch is live and a retire once it is retired, unless a completion record
/// of the same promotion exists. Unfinished ones resume at their recorded progress.
enum BatchJobPlan {
    static func jobs(
        registry: BatchRegistry, embeddingBatchID: String, partitions: [Int32],
        progress: (BatchJobKind, String, Int32) -> BatchJobProgress?
    ) -> [BatchJob] {
        var jobs: [BatchJob] = []
        // Re-encodes first (current before legacy), so downstream gets the new batch's coverage
        // soonest; tombstones of retired batches after.
        let ordered =
            registry.live.map { (BatchJobKind.reencode, $0) }
            + registry.batches.filter { $0.state == .retired }.map { (BatchJobKind.retire, $0) }
        for (kind, entry) in ordered where entry.embeddingBatchID == embeddingBatchID {
            for p in partitions.sorted() {
                let recorded = progress(kind, entry.batchID, p).flatMap { $0.epoch == entry.promotedVersion ? $0 : nil }
                if recorded?.done == true { continue }
                jobs.append(
                    BatchJob(
                        kind: kind, batchID: entry.batchID, epoch: entry.promotedVersion, partition: p, afterUser: recorded?.afterUserID,
                        users: recorded?.users ?? 0))
            }
        }
        return jobs
    }
}

/// A token bucket: `perSecond` tokens a second, at most one second's worth (or one token) saved up.
struct RateLimiter {
    let perSecond: Double
    private var tokens: Double
    private var last: Double

    /// A full bucket at time `now` (seconds).
    init(perSecond: Double, now: Double) {
        self.perSecond = perSecond
        tokens = perSecond
        last = now
    }

    /// Whole tokens there are at time `now`, none taken.
    mutating func available(now: Double) -> Int {
        // At least one token fits, so that a rate below one a second still lets one through.
        tokens = min(max(perSecond, 1), tokens + max(0, now - last) * perSecond)
        last = now
        return Int(tokens.rounded(.down))
    }

    /// Takes up to `wanted` whole tokens at time `now`; returns how many it took.
    mutating func take(_ wanted: Int, now: Double) -> Int {
        let taken = min(wanted, available(now: now))
        tokens -= Double(taken)
        return max(0, taken)
    }

    /// Fewest tokens a step waits for: a tenth of a second's worth (at least one). Every step
    /// costs a flush and a commit whatever its size, and an idle worker's loop comes round every
    /// few milliseconds, so steps that took the tokens of those few milliseconds paid 270 µs of
    /// CPU per timer fired (1,303 steps of 45 users on bench's tail). An idle limiter's bucket is
    /// full, so the first step after a quiet spell does not wait.
    var minimumStep: Int { max(1, Int(perSecond / 10)) }

    /// Whether a step may start at time `now`: `minimumStep` tokens (or `wanted`, if fewer) are there.
    mutating func stepReady(wanting wanted: Int = .max, now: Double) -> Bool {
        available(now: now) >= max(1, min(wanted, minimumStep))
    }
}
