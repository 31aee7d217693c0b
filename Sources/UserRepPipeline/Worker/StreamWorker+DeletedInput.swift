// What the brokers may delete: input records before the group read them (counted, skipped past), and the changelog topic's retention (refused).
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

extension StreamWorker {
    /// Stops the worker once the brokers describe its changelog topic with a policy that deletes
    /// records by time or size (`StartupChecks.deletingPolicy`): a restore would lack the users
    /// whose newest state records were deleted, and start them afresh, in silence. The answer is
    /// asked at start and polled between cycles, so a broker that does not answer DescribeConfigs
    /// (the embedded cluster) delays nothing; after 30 s without one, or on a refusal (say, no
    /// permission), the check is given up, logged at debug.
    func checkChangelogPolicy() throws {
        guard let (request, askedAt) = changelogConfigs else { return }
        guard let answer = request.poll() else {
            if Date().timeIntervalSince(askedAt) > 30 {
                changelogConfigs = nil
                logger.debug("no answer to DescribeConfigs for the changelog topic: its retention is not checked")
            }
            return
        }
        changelogConfigs = nil
        switch answer {
        case .failure(let error):
            logger.debug("the changelog topic's configs cannot be read, so its retention is not checked: \(error)")
        case .success(let configs):
            logger.debug(
                "changelog topic described",
                metadata: ["topic": "\(request.topic)", "cleanup.policy": "\(configs["cleanup.policy"] ?? "(not described)")"])
            guard let problem = StartupChecks.deletingPolicy(configs) else { return }
            throw WorkerError(
                "state changelog topic '\(request.topic)' has \(problem): the brokers would delete state records, and a worker restoring a partition would start the users whose newest records were deleted afresh, losing their windows in silence; set cleanup.policy=compact on it (`userrep topics create` does)"
            )
        }
    }
}
