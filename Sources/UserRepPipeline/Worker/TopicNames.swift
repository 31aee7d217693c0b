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

    /// The default names.
    public init() {}
}
