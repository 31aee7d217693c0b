// The exact end of partitions whose listed high watermark may lag their log.
import Foundation

extension KafkaConsumer {
    /// The high watermark a fetch response reports for each partition of `topic` in `listed`
    /// (given with its ListOffsets watermarks). A broker whose ListOffsets answer lags its log (Tansu: the base
    /// offset of the partition's last record batch plus one) makes a reader that has read to the
    /// true end look ahead of the partition, as one of a deleted and re-created topic is; a fetch
    /// response carries the exact end. This assigns each partition from its last listed record
    /// (replacing the assignment), polls until a fetch has answered for each (a record or the
    /// partition's end) or `timeoutSeconds` have passed, and returns the watermark librdkafka took
    /// from those responses; a partition that did not answer, or lists no record, is left out.
    /// `onPoll` is called after every poll (a caller's liveness).
    public func fetchedHighWatermarks(
        topic: String, _ listed: [Int32: KafkaWatermarks], timeoutSeconds: Double, onPoll: (() -> Void)? = nil
    ) throws -> [Int32: Int64] {
        let probes = listed.filter { $0.value.high > $0.value.low }
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
            // Read only once this assignment's fetch has answered: the cache may hold an older one.
            var answered = Set(partitionsAtEnd.filter { $0.topic == topic }.map(\.partition))
            for i in 0..<polled.count { answered.insert(polled[i].partition) }
            for p in answered where highs[p] == nil && probes[p] != nil {
                if let high = cachedHighWatermark(KafkaTopicPartition(topic: topic, partition: p)) { highs[p] = high }
            }
        }
        return highs
    }
}
