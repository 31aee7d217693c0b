// After an import: did the cluster keep what it acknowledged? (The embedded cluster drops the oldest
// records past ~5 MiB per partition; a topic with short retention does the same.)
import ArgumentParser
import UserRepKafka

/// The topic's watermarks before an import, checked against its watermarks after it: every
/// record the import appended must still be there.
struct ImportRetentionCheck {
    private let admin: KafkaAdmin
    private let topic: String
    private let before: [Int32: KafkaWatermarks]

    /// Records the topic's watermarks now.
    init(kafka: KafkaConfiguration, topic: String) throws {
        admin = try KafkaAdmin(configuration: kafka)
        self.topic = topic
        before = try admin.watermarks(topic: topic)
    }

    /// Throws, naming a partition, unless all `imported` records were appended and are still held.
    func verify(imported: Int) throws {
        let after = try admin.watermarks(topic: topic)
        var appended: Int64 = 0, kept: Int64 = 0
        var worst: (partition: Int32, low: Int64, start: Int64)?
        for (p, marks) in after.sorted(by: { $0.key < $1.key }) {
            let start = before[p]?.high ?? 0
            appended += marks.high - start
            kept += marks.high - max(marks.low, start)
            if marks.low > start, worst == nil { worst = (p, marks.low, start) }
        }
        if let worst, kept < appended {
            throw ValidationError(
                "topic \(topic) kept only \(kept) of the \(imported) records imported: partition \(worst.partition) holds nothing before offset \(worst.low) although the import began at \(worst.start). The embedded cluster keeps about 5 MiB per partition (give the topic more partitions); on a real cluster check the topic's retention"
            )
        }
        guard appended >= Int64(imported) else {
            throw ValidationError("topic \(topic) grew by \(appended) records, but \(imported) were imported and acknowledged")
        }
    }
}
