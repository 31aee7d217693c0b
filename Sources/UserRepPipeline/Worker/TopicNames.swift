// The topics the worker reads and writes.

/// Names of the worker's topics; each can be changed on the command line.
public struct TopicNames: Sendable, Equatable {
    /// Listen events (key: user id).
    public var listens = "listens"
    /// Onboarding events (key: user id).
    public var onboarding = "onboarding"
    /// Compacted track-embedding table (key: track id).
    public var tracks = "track-embeddings"
    /// Published representations (compacted, key: user id).
    public var output = "user-representations"
    /// Records that could not be processed, with the reason in headers.
    public var deadLetters = "userrep-dead-letters"
    /// Compacted changelog of user states, partitioned like the input (key: user id); nil for
    /// the default `<group id>-state-changelog` (one per consumer group, as in Kafka Streams).
    public var changelog: String?
    /// The batch registry and the batch jobs' progress (compacted, one partition): see
    /// `schemas/batch-registry.md`.
    public var batches = "userrep-batches"

    /// The output topic of model batch `batchID` when the worker follows the registry (one
    /// compacted topic per batch, so that the batches' records do not compact each other away).
    public func output(forBatch batchID: String) -> String { "\(output).\(batchID)" }

    /// The changelog topic of consumer group `groupID`.
    public func changelog(forGroup groupID: String) -> String { changelog ?? "\(groupID)-state-changelog" }

    /// The default names.
    public init() {}
}
