// The embedded cluster's side of the topic plan: creating topics through the mock API, sizing partitions for its ~5 MiB each, and checking nothing was dropped.
import UserRepKafka
import UserRepPipeline

extension TopicPlan {
    /// Creates `specs` on an embedded cluster (whose version answers no CreateTopics requests).
    public static func create(_ specs: [KafkaTopicSpec], on cluster: EmbeddedKafkaCluster) throws {
        for s in specs { try cluster.createTopic(s.name, partitions: s.partitions, replicationFactor: 1) }
    }

    /// Bytes an output record takes on the embedded cluster, rounded up: a 120-float protobuf value
    /// (~540 bytes) plus key and header, as zstd-compressed batches store it (~420 bytes measured).
    public static let embeddedOutputRecordBytes = 500

    /// Output partitions for `records` output records on the embedded cluster, and at least
    /// `minimum`. A worker that keeps up publishes about one record per event, so outputs can
    /// outweigh the JSON input they come from.
    public static func embeddedOutputPartitions(forRecords records: Int, minimum: Int) -> Int {
        embeddedPartitions(forBytes: records * embeddedOutputRecordBytes, minimum: minimum)
    }

    /// Partitions needed so that `bytes` of records stay under the embedded cluster's ~5 MiB per
    /// partition with a safety factor of 2.
    public static func embeddedPartitions(forBytes bytes: Int, minimum: Int = 4) -> Int {
        let perPartition = 2_500_000
        return max(minimum, (bytes + perPartition - 1) / perPartition)
    }

    /// Throws if any partition of `topics` has dropped records (low watermark above zero): on the
    /// embedded cluster that means data was silently discarded before it was read.
    public static func verifyNothingDropped(_ topics: [String], admin: KafkaAdmin) throws {
        for topic in topics {
            for (p, marks) in try admin.watermarks(topic: topic).sorted(by: { $0.key < $1.key }) where marks.low > 0 {
                throw KafkaError(
                    "topic \(topic) partition \(p) dropped \(marks.low) records (low watermark \(marks.low)); the embedded cluster keeps ~5 MiB per partition, so use more partitions"
                )
            }
        }
    }
}
