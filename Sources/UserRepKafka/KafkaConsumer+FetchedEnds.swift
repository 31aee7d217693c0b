// The exact end of partitions whose listed high watermark may lag their log.
import Foundation

extension KafkaConsumer {
    /// Each of `partitions`' watermarks as ListOffsets reports them, except that where `positions`
    /// puts a reader past the listed high watermark, the high one is what a fetch response reports.
    /// A broker whose ListOffsets answer lags its log (Tansu: the base offset of the partition's
    /// last record batch plus one) makes a reader that has read to the true end look ahead of the
    /// partition, as one of a deleted and re-created topic is; a fetch response carries the exact
    /// end. Such partitions are assigned from their last listed record (replacing the assignment)
    /// and polled until a fetch has answered for each (a record or the partition's end) or
    /// `timeoutSeconds` have passed; one that did not answer keeps its listed watermark. `onPoll`
    /// is called after every poll (a caller's liveness).
    public func watermarks(
        topic: String, partitions: [Int32], confirmingPast positions: [Int32: Int64], timeoutSeconds: Double,
        onPoll: (() -> Void)? = nil
    ) throws -> [Int32: KafkaWatermarks] {
        var marks: [Int32: KafkaWatermarks] = [:]
        for p in partitions { marks[p] = try watermarks(KafkaTopicPartition(topic: topic, partition: p)) }
        let ahead = marks.filter { p, w in w.high > w.low && (positions[p] ?? 0) > w.high }
        for (p, high) in try fetchedHighWatermarks(topic: topic, ahead, timeoutSeconds: timeoutSeconds, onPoll: onPoll) {
            if let w = marks[p], high > w.high { marks[p] = KafkaWatermarks(low: w.low, high: high) }
        }
        return marks
    }

    /// The high watermark a fetch response reports for each partition of `topic` in `probes`
    /// (each with a record below its listed high watermark), read only once a fetch has answered
    /// for it since this assignment (the cache may hold an older one).
    private func fetchedHighWatermarks(
        topic: String, _ probes: [Int32: KafkaWatermarks], timeoutSeconds: Double, onPoll: (() -> Void)?
    ) throws -> [Int32: Int64] {
        guard !probes.isEmpty else { return [:] }
        try assign(
            Dictionary(
                uniqueKeysWithValues: probes.map { p, marks in
                    (KafkaTopicPartition(topic: topic, partition: p), KafkaOffset.at(marks.high - 1))
                }))
        let polled = KafkaPolledRecords(topics: [topic])
        defer { polled.reset() }
        var highs: [Int32: Int64] = [:]
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        while highs.count < probes.count, Date() < deadline {
            try poll(into: polled, maxMessages: 1_000, timeoutMs: 100)
            onPoll?()
            var answered = Set(partitionsAtEnd.filter { $0.topic == topic }.map(\.partition))
            for i in 0..<polled.count { answered.insert(polled[i].partition) }
            for p in answered where highs[p] == nil && probes[p] != nil {
                if let high = cachedHighWatermark(KafkaTopicPartition(topic: topic, partition: p)) { highs[p] = high }
            }
        }
        return highs
    }
}
