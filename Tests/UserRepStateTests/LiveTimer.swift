// The brute-force oracle of the timer-index tests.

/// A live timer, as the oracle keeps it: partition, time, user id.
struct LiveTimer: Hashable {
    let partition: Int32, time: Int64, user: [UInt8]

    /// The first `limit` timers of `live` in `partition` due at or before `upTo`, in the index's
    /// order (time, then user id): a full scan and sort.
    static func due(_ live: Set<LiveTimer>, _ partition: Int32, upTo: Int64, limit: Int) -> [LiveTimer] {
        Array(
            live.filter { $0.partition == partition && $0.time <= upTo }
                .sorted { $0.time != $1.time ? $0.time < $1.time : $0.user.lexicographicallyPrecedes($1.user) }
                .prefix(limit))
    }
}
