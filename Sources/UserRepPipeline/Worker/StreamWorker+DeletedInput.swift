// Input records the brokers deleted before the worker read them: counted, logged, and skipped past.
import Foundation
import UserRepKafka

extension StreamWorker {
    /// Resumes the input partitions whose fetch position the brokers no longer held at the last
    /// poll (the worker's consumer runs with `auto.offset.reset=error`, so librdkafka reports
    /// them instead of moving on silently). Below the partition's first record kept, the records
    /// in between were deleted (retention) before the group read them: they are lost, counted in
    /// `inputRecordsLost` and logged as an error, and the partition resumes at its first record
    /// kept. Beyond its end, the partition was truncated or recreated: logged, and it resumes at
    /// its start. Called between cycles, when no polled record is held: every other assigned
    /// partition is fetched again from the worker's own next offset. A partition whose
    /// watermarks cannot be read now is tried again before the next poll.
    func resumePartitionsPastDeletedRecords() throws {
        for (tp, offset) in consumer.takeOffsetsOutOfRange() { outOfRange[tp] = offset }
        guard !outOfRange.isEmpty else { return }
        let assigned = consumer.assignment
        var resumed: [KafkaTopicPartition: Int64] = [:]
        for (tp, position) in outOfRange.sorted(by: { $0.key.description < $1.key.description }) {
            guard assigned.contains(tp) else {
                outOfRange.removeValue(forKey: tp)
                continue
            }
            let marks: KafkaWatermarks
            do { marks = try consumer.watermarks(tp, timeoutMs: 5_000) } catch {
                logger.warning("cannot read the watermarks of \(tp) to resume it past deleted records; retrying: \(error)")
                continue
            }
            if position < marks.low {
                metrics.inputRecordsLost += Int(marks.low - position)
                logger.error(
                    "input records were deleted before this group read them (retention ran out while it was behind or away); they are lost, and the partition resumes at its first record kept",
                    metadata: [
                        "partition": "\(tp)", "position": "\(position)", "first_kept": "\(marks.low)",
                        "lost": "\(marks.low - position)",
                    ])
            } else {
                logger.error(
                    "the input partition ends before this group's position (truncated, or deleted and created again?); it resumes at its start",
                    metadata: ["partition": "\(tp)", "position": "\(position)", "start": "\(marks.low)", "end": "\(marks.high)"])
            }
            resumed[tp] = marks.low
            outOfRange.removeValue(forKey: tp)
        }
        guard !resumed.isEmpty else { return }
        let own = nextOffsets
        try consumer.refetch(
            from: Dictionary(
                uniqueKeysWithValues: assigned.map { tp in
                    (tp, resumed[tp].map { .at($0) } ?? own[tp].flatMap { $0 > 0 ? .at($0) : nil } ?? .beginning)
                }))
    }
}
