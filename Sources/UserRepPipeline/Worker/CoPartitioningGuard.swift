// Tells whether the input topics are partitioned alike: a user's listens and onboarding events in one partition.
import UserRepKafka

/// Watches which key partitioners the records of each input topic agree with. A worker keeps a
/// user's state with their partition, so every input topic must place a user's records in the
/// same partition: the same partition count (checked at start) and the same partitioner. Producers
/// of different clients differ by default (Java's murmur2 against librdkafka's CRC32), and then a
/// user's listens and onboarding events land in different partitions, and the worker would keep
/// two states for them, each publishing its own vector.
///
/// A topic's candidates start as every known partitioner; a keyed record removes those that would
/// have placed it elsewhere. Its true partitioner, if known, is never removed, and a wrong one
/// survives n records with chance (1/partitions)^n. So two topics whose candidates are both
/// non-empty and share none are partitioned by different functions: a certain verdict, however
/// few their records. A topic with no candidate left is partitioned by something else (a custom
/// partitioner, or explicit partitions), about which nothing can be said.
struct CoPartitioningGuard: Sendable {
    /// Partition count of the input topics.
    let partitions: Int32
    /// Partitioners each topic (by index among the inputs) still agrees with.
    private(set) var candidates: [Set<KafkaPartitioner>]
    /// Keyed records seen per topic.
    private(set) var records: [Int]

    /// A guard for `topics` input topics of `partitions` partitions.
    init(topics: Int, partitions: Int32) {
        self.partitions = partitions
        candidates = Array(repeating: Set(KafkaPartitioner.allCases), count: topics)
        records = Array(repeating: 0, count: topics)
    }

    /// Takes in a record of topic `topic` (its index among the inputs) read from `partition`.
    mutating func observe(topic: Int, key: UnsafeRawBufferPointer, partition: Int32) {
        guard candidates.indices.contains(topic), partitions > 1, !key.isEmpty else { return }
        records[topic] += 1
        guard !candidates[topic].isEmpty else { return }
        for p in candidates[topic] where p.partition(of: key, count: partitions) != partition {
            candidates[topic].remove(p)
        }
    }

    /// Two topics (indices) partitioned by different functions, if any.
    var conflict: (Int, Int)? {
        for a in candidates.indices {
            for b in candidates.indices where b > a {
                if !candidates[a].isEmpty && !candidates[b].isEmpty && candidates[a].isDisjoint(with: candidates[b]) {
                    return (a, b)
                }
            }
        }
        return nil
    }

    /// How topic `topic`'s records are partitioned, in words.
    func describe(_ topic: Int) -> String {
        let names = candidates[topic].sorted().map { "\($0.rawValue) (librdkafka partitioner=\($0.librdkafkaName))" }
        return names.isEmpty ? "by no partitioner userrep knows" : "as by " + names.joined(separator: " or ")
    }
}
