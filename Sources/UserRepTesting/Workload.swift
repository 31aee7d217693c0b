// A small deterministic workload on a fresh embedded cluster, for tests.
import Foundation
import UserRepKafka
import UserRepPipeline

/// A small deterministic workload on a fresh embedded cluster.
public struct Workload {
    /// The cluster, topics, model and catalogue.
    public let env: EmbeddedEnvironment
    /// The generator the listens come from.
    public var generator: SyntheticGenerator
    /// Every listen produced so far, in order.
    public var listens: [ListenEvent] = []

    /// A generator of `users` users and `tracks` tracks (20 artists) on a 3-broker cluster.
    public init(users: Int = 300, tracks: Int = 200, partitions: Int = 4, seed: UInt64 = 7, manifestURL: URL? = nil) throws {
        var s = SyntheticGenerator.Settings()
        s.users = users
        s.tracks = tracks
        s.artists = 20
        s.seed = seed
        generator = SyntheticGenerator(settings: s)
        env = try EmbeddedEnvironment(brokers: 3, partitions: partitions, generator: generator, manifestURL: manifestURL)
    }

    /// How many listens each user (by id) was produced so far.
    public var listensPerUser: [String: UInt64] {
        Dictionary(grouping: listens) { String(decoding: $0.userID, as: UTF8.self) }.mapValues { UInt64($0.count) }
    }

    /// Runs a worker with `configuration` on this workload's model until it has read its input
    /// to the end, and returns what it did.
    @discardableResult
    public func runToEnd(_ configuration: WorkerConfiguration) throws -> WorkerMetrics {
        try StreamWorker(configuration: configuration, model: env.model).run(until: .whenCaughtUp())
    }

    /// Produces `count` listens to `topic` and remembers them.
    public mutating func produceListens(_ count: Int, topic: String? = nil) throws {
        let producer = try KafkaProducer(configuration: env.kafka)
        for i in 0..<count {
            let e = generator.listen(index: i, total: count)
            listens.append(e)
            try producer.produce(topic: topic ?? env.topics.listens, key: e.userID, value: e.json())
        }
        try producer.flush(timeoutMs: 30_000)
    }
}
