// Which input a record came from; a user's state keeps its applied position per lane.

/// The two inputs of a user's state: listens (or, in a backfill, the replay topic) and onboarding
/// events. Each lane has its own partitions' offsets, so a state records the newest offset it
/// reflects per lane.
public enum InputLane: Int, Sendable, Hashable, CaseIterable {
    /// Listen events (the listens topic, or a backfill's replay topic).
    case listens = 0
    /// Onboarding events.
    case onboarding = 1
}
