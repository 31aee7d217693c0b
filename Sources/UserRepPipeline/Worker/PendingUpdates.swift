// One poll cycle's valid listens, grouped by user (pure; no I/O).
import UserRepState

/// Listens of one cycle grouped by user, in arrival order per user, so each user's state is
/// loaded, updated and encoded once per cycle however many of their events arrived.
struct PendingUpdates {
    /// Distinct users, in first-seen order.
    private(set) var users: [UserKey] = []
    private var slots: [UserKey: Int] = [:]
    /// Per event: user slot, event time, track slot, record timestamp (for latency).
    private(set) var events: [(user: Int, timeMs: Int64, track: Int32)] = []

    mutating func add(user: UserKey, timeMs: Int64, track: Int32) {
        let slot: Int
        if let s = slots[user] {
            slot = s
        } else {
            slot = users.count
            slots[user] = slot
            users.append(user)
        }
        events.append((slot, timeMs, track))
    }

    var isEmpty: Bool { events.isEmpty }

    mutating func reset() {
        users.removeAll(keepingCapacity: true)
        slots.removeAll(keepingCapacity: true)
        events.removeAll(keepingCapacity: true)
    }
}
