// What a worker's stop completed, read by `userrep run` for its exit code.

/// What a worker's stop completed, for the exit code: a stop is bounded in time, so with Kafka
/// unreachable it ends without the group steps (the next start resumes from the local state).
public struct StopReport: Sendable, Equatable {
    /// The state store's memtables were flushed to disk.
    public var stateFlushed = false
    /// The group's committed offsets equal the worker's finished work.
    public var groupCommitted = false
    /// The consumer left the group cleanly within the time bound.
    public var groupLeft = false

    /// Creates an empty report (nothing completed).
    public init() {}
}
