// Reads and writes the batch registry topic: the registry document and the batch jobs' progress.
import Foundation
import Logging
import UserRepKafka

/// The registry topic as one reader sees it: the newest registry document and every job's newest
/// progress record, read from the start of its partitions at start-up and then as records arrive.
public final class BatchRegistryTopic {
    /// Key of the registry document (the other keys are `BatchJobProgress.key`s).
    public static let registryKey = "registry"

    private let consumer: KafkaConsumer
    private let polled: KafkaPolledRecords
    /// Topic name.
    public let topic: String
    private let logger: Logger
    private var next: [Int32: Int64] = [:]
    /// The newest registry document read (by version), nil before any.
    public private(set) var registry: BatchRegistry?
    /// Every registry document read, in topic order (the registry's history until compaction).
    public private(set) var history: [BatchRegistry] = []
    /// The newest progress of each batch job, by `BatchJobProgress.key`.
    public private(set) var progress: [String: BatchJobProgress] = [:]
    /// Records that were neither a registry document nor a progress record (skipped, logged).
    public private(set) var unreadable = 0

    /// Assigns every partition of `topic` from its start; throws if the topic does not exist.
    public init(kafka: KafkaConfiguration, topic: String, logger: Logger) throws {
        consumer = try KafkaConsumer(
            configuration: kafka.overriding(["group.id": "userrep-batch-registry", "enable.auto.commit": "false"]),
            trackPartitionEnd: true)
        polled = KafkaPolledRecords(topics: [topic])
        self.topic = topic
        self.logger = logger
        guard let partitions = try consumer.partitionCount(topic: topic) else {
            throw KafkaError(
                "batch registry topic '\(topic)' does not exist; create it (`userrep topics create`) and promote a model (`userrep batches promote --model DIR`)"
            )
        }
        var all: [KafkaTopicPartition: KafkaOffset] = [:]
        for p in 0..<Int32(partitions) { all[KafkaTopicPartition(topic: topic, partition: p)] = .beginning }
        try consumer.assign(all)
    }

    /// Reads until every partition has reached its end as of now; false if `shouldStop` ended it first.
    @discardableResult
    public func catchUp(shouldStop: () -> Bool = { false }) throws -> Bool {
        while !consumer.assignment.allSatisfy(isAtEnd) {
            guard !shouldStop() else { return false }
            try poll(timeoutMs: 100)
        }
        return true
    }

    /// Whether every record on the topic as of now has been read, asking the brokers for the
    /// high watermarks (not the last fetch's): a run that stops when caught up applies every
    /// registry change written before it was told to stop.
    public func isCaughtUp() throws -> Bool {
        for tp in consumer.assignment where (next[tp.partition] ?? 0) < (try consumer.watermarks(tp).high) { return false }
        return true
    }

    private func isAtEnd(_ tp: KafkaTopicPartition) -> Bool {
        if consumer.partitionsAtEnd.contains(tp) { return true }
        guard let high = consumer.cachedHighWatermark(tp) else { return false }
        return (next[tp.partition] ?? 0) >= high
    }

    /// Applies the records waiting (without blocking when `timeoutMs` is 0); returns whether a
    /// newer registry document arrived.
    @discardableResult
    public func poll(timeoutMs: Int32 = 0) throws -> Bool {
        try consumer.poll(into: polled, maxMessages: 1_000, timeoutMs: timeoutMs)
        var changed = false
        for i in 0..<polled.count {
            let m = polled[i]
            next[m.partition] = max(next[m.partition] ?? 0, m.offset + 1)
            guard let key = m.key.map({ String(decoding: $0, as: UTF8.self) }) else { unreadable += 1; continue }
            guard let value = m.value else {
                progress.removeValue(forKey: key)
                continue
            }
            do {
                if key == Self.registryKey {
                    let document = try BatchRegistry.decode(value)
                    history.append(document)
                    if document.version > registry?.version ?? -1 {
                        registry = document
                        changed = true
                    }
                } else {
                    let record = try JSONDecoder().decode(BatchJobProgress.self, from: Data(value))
                    progress[key] = record
                }
            } catch {
                unreadable += 1
                logger.warning(
                    "skipping an unreadable batch registry record",
                    metadata: ["topic": "\(topic)", "partition": "\(m.partition)", "offset": "\(m.offset)", "error": "\(error)"])
            }
        }
        return changed
    }

    /// The progress of a job on a partition, nil if none was recorded.
    public func progress(_ kind: BatchJobKind, batchID: String, partition: Int32) -> BatchJobProgress? {
        progress[BatchJobProgress.key(kind: kind, batchID: batchID, partition: partition)]
    }

    /// The record that publishes `registry`.
    public static func record(_ registry: BatchRegistry) throws -> (key: [UInt8], value: [UInt8]) {
        (Array(registryKey.utf8), Array(try registry.encoded()))
    }

    /// The record that publishes a job's progress.
    public static func record(_ progress: BatchJobProgress) throws -> (key: [UInt8], value: [UInt8]) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (Array(progress.key.utf8), Array(try encoder.encode(progress)))
    }
}
