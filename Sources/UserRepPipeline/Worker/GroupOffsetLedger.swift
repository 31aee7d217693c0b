// Bookkeeping of input positions: the worker's own next offsets against the group's committed ones.
import UserRepKafka

/// The next offset of every assigned input partition as this worker knows it (its finished work)
/// and as the consumer group last confirmed it. Pure bookkeeping, no Kafka: the worker asks it
/// what to commit, and tells it what was committed. A partition whose group offset is behind
/// (a failed or skipped commit, a takeover that resumed from local state, an idle partition) stays
/// `behind` until a commit is confirmed, so the group's offsets converge on the worker's own.
struct GroupOffsetLedger: Sendable {
    /// Next offset per partition of the finished work (0 when nothing is known yet).
    private(set) var own: [KafkaTopicPartition: Int64] = [:]
    /// Next offset per partition as the group last confirmed it.
    private(set) var group: [KafkaTopicPartition: Int64] = [:]

    /// A partition was assigned: this store's next offset for it is `stored` and the group's
    /// `committed` (nil: none). It resumes at the larger of the two (the store may be ahead of a
    /// commit that failed or was skipped; the group ahead of a store that is new or was behind
    /// another owner), or at the beginning when neither knows it. Returns that position.
    @discardableResult
    mutating func assigned(_ tp: KafkaTopicPartition, stored: Int64?, committed: Int64?) -> KafkaOffset {
        let next = [stored, committed].compactMap { $0 }.max()
        own[tp] = next ?? 0
        if let committed { group[tp] = committed } else { group.removeValue(forKey: tp) }
        return next.map { .at($0) } ?? .beginning
    }

    /// A cycle finished (state and offsets stored): its partitions moved to `offsets`.
    mutating func finished(_ offsets: [KafkaTopicPartition: Int64]) {
        for (tp, next) in offsets { own[tp] = max(own[tp] ?? 0, next) }
    }

    /// The group confirmed `offsets`.
    mutating func confirmed(_ offsets: [KafkaTopicPartition: Int64]) {
        for (tp, next) in offsets { group[tp] = max(group[tp] ?? 0, next) }
    }

    /// Partitions whose group offset is behind the worker's own, with the offset to commit.
    var behind: [KafkaTopicPartition: Int64] {
        own.filter { tp, next in next > 0 && next > (group[tp] ?? -1) }
    }

    /// Forgets `partitions` (revoked or lost); returns what should still be committed for them.
    mutating func remove(_ partitions: [KafkaTopicPartition]) -> [KafkaTopicPartition: Int64] {
        let due = behind.filter { partitions.contains($0.key) }
        for tp in partitions {
            own.removeValue(forKey: tp)
            group.removeValue(forKey: tp)
        }
        return due
    }
}
