// Reads and writes the batch registry topic: the registry document and the batch jobs' progress.
import Foundation
import Logging
import UserRepKafka

/// The registry topic as one reader sees it: the newest registry document and every job's newest
/// progress record, read from the start of its partitions at start-up and then as records arrive.
public final class BatchRegistryTopic {
    /// Key of the registry document (the other keys are `BatchJobProgress.key`s).
    public static let registryKey = "registry"

    private let reader: WholeTopicReader
    /// Topic name.
    public var topic: String { reader.topic }
    private let logger: Logger
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
        reader = try WholeTopicReader(
            kafka: kafka, topic: topic, groupID: "userrep-batch-registry",
            missing:
                "batch registry topic '\(topic)' does not exist; create it (`userrep topics create`) and promote a model (`userrep batches promote --model DIR`)"
        )
        self.logger = logger
    }

    /// Reads until every partition has reached its end as of now; false if `shouldStop` ended it first.
    @discardableResult
    public func catchUp(shouldStop: () -> Bool = { false }) throws -> Bool {
        while !reader.isAtEnd {
            guard !shouldStop() else { return false }
            try poll(timeoutMs: 100)
        }
        return true
    }

    /// Whether every record on the topic as of now has been read, asking the brokers for the
    /// high watermarks (not the last fetch's): a run that stops when caught up applies every
    /// registry change written before it was told to stop.
    public func isCaughtUp() throws -> Bool { try reader.isCaughtUp() }

    /// Applies the records waiting (without blocking when `timeoutMs` is 0); returns whether a
    /// newer registry document arrived.
    @discardableResult
    public func poll(timeoutMs: Int32 = 0) throws -> Bool {
        var changed = false
        try reader.poll(maxMessages: 1_000, timeoutMs: timeoutMs) { m in
            guard let key = m.key.map({ String(decoding: $0, as: UTF8.self) }) else {
                unreadable += 1
                return
            }
            guard let value = m.value else {
                progress.removeValue(forKey: key)
                return
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
