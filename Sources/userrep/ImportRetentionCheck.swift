// After an import: did the cluster keep what it acknowledged? (The embedded cluster drops the oldest
// records past ~5 MiB per partition; a topic with short retention does the same.)
import Foundation
import UserRepKafka
import UserRepPipeline

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

    /// Throws, naming a partition, when records the import appended are no longer held (the
    /// oldest offset kept is past where the import began). Fewer appended records than imported
    /// only warns: some brokers (Tansu) report watermarks late.
    func verify(imported: Int) throws {
        let after = try admin.watermarks(topic: topic)
        var appended: Int64 = 0, kept: Int64 = 0
        var lost: (partition: Int32, low: Int64, start: Int64)?
        for (p, marks) in after.sorted(by: { $0.key < $1.key }) {
            let start = before[p]?.high ?? 0
            appended += marks.high - start
            kept += marks.high - max(marks.low, start)
            if marks.low > start, lost == nil { lost = (p, marks.low, start) }
        }
        if let lost, kept < appended {
            throw WorkerError(
                "topic \(topic) kept only \(kept) of the \(imported) records imported: partition \(lost.partition) holds nothing before offset \(lost.low) although the import began at \(lost.start). The embedded cluster keeps about 5 MiB per partition (give the topic more partitions); on a real cluster check the topic's retention"
            )
        }
        if appended < Int64(imported) {
            FileHandle.standardError.write(
                Data(
                    "warning: topic \(topic)'s watermarks grew by \(appended) records, but \(imported) were imported and acknowledged (a broker that reports watermarks late?)\n"
                        .utf8))
        }
    }
}
