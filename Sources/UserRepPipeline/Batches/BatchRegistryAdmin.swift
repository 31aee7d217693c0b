// The registry changes `userrep batches` makes: read the newest document, change it, write it.
import Foundation
import Logging
import UserRepKafka

/// Promotes and retires batches on a cluster's registry topic.
public struct BatchRegistryAdmin: Sendable {
    /// Client properties.
    public let kafka: KafkaConfiguration
    /// Topic names (the registry topic, the listens topic for the partition count, the output prefix).
    public let topics: TopicNames
    let logger: Logger

    /// An admin of the registry on `kafka`.
    public init(kafka: KafkaConfiguration, topics: TopicNames, logger: Logger = Logger(label: "userrep.batches")) {
        self.kafka = kafka
        self.topics = topics
        self.logger = logger
    }

    /// Makes the model at `manifestPath` current (see `BatchRegistry.promote`), creating the
    /// registry topic and the batch's output topic if they are missing. Returns the new registry.
    @discardableResult
    public func promote(modelAt manifestPath: String, newEmbeddingBatch: Bool = false, replicationFactor: Int = -1) throws
        -> BatchRegistry
    {
        let entry = try prepare(modelAt: manifestPath, replicationFactor: replicationFactor)
        return try promote(entry, newEmbeddingBatch: newEmbeddingBatch)
    }

    /// Stages the model at `manifestPath` (see `BatchRegistry.stage`), creating its output topic if
    /// missing. Returns the new registry.
    @discardableResult
    public func stage(modelAt manifestPath: String, replicationFactor: Int = -1) throws -> BatchRegistry {
        let entry = try prepare(modelAt: manifestPath, replicationFactor: replicationFactor)
        return try change { try $0.stage(entry, atMs: Self.nowMs()) }
    }

    /// The entry of a model, once the registry topic and the batch's output topic exist.
    private func prepare(modelAt manifestPath: String, replicationFactor: Int) throws -> BatchEntry {
        let entry = try BatchModels.entry(forModelAt: manifestPath)
        let admin = try KafkaAdmin(configuration: kafka)
        guard let partitions = try admin.partitionCount(topic: topics.listens) else {
            throw BatchRegistryError("listens topic '\(topics.listens)' does not exist; create the topics first (`userrep topics create`)")
        }
        try admin.createTopics([
            KafkaTopicSpec(
                name: topics.batches, partitions: 1, replicationFactor: replicationFactor, configs: ["cleanup.policy": "compact"]),
            TopicPlan.batchOutputSpec(topics, batchID: entry.batchID, partitions: partitions, replicationFactor: replicationFactor),
        ])
        return entry
    }

    /// Makes `entry` current as it is, without reading its model (whose output topic must exist).
    @discardableResult
    public func promote(_ entry: BatchEntry, newEmbeddingBatch: Bool = false) throws -> BatchRegistry {
        try change { try $0.promote(entry, atMs: Self.nowMs(), newEmbeddingBatch: newEmbeddingBatch) }
    }

    /// Retires batch `batchID` (see `BatchRegistry.retire`). Returns the new registry.
    @discardableResult
    public func retire(_ batchID: String) throws -> BatchRegistry {
        try change { try $0.retire(batchID, atMs: Self.nowMs()) }
    }

    /// The registry topic read to its end.
    public func read() throws -> BatchRegistryTopic {
        let reader = try BatchRegistryTopic(kafka: kafka, topic: topics.batches, logger: logger)
        try reader.catchUp()
        return reader
    }

    private func change(_ body: (inout BatchRegistry) throws -> Void) throws -> BatchRegistry {
        var registry = try read().registry ?? BatchRegistry()
        try body(&registry)
        let producer = try KafkaProducer(configuration: kafka)
        let record = try BatchRegistryTopic.record(registry)
        try producer.produce(topic: topics.batches, partition: 0, key: record.key, value: record.value)
        try producer.flush(timeoutMs: 30_000)
        return registry
    }

    static func nowMs() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }
}
