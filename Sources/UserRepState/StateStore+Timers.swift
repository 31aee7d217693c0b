// Event-time timers in the state store: when each user's windows next change, by partition and time.
import UserRepModel

/// A change to one user's timer: the scheduled time removed (`old`) and the one added (`new`).
public struct TimerChange: Sendable, Equatable {
    /// The user.
    public let user: UserKey
    /// The timer to remove, nil if none was scheduled.
    public let old: Int64?
    /// The timer to add, nil for none.
    public let new: Int64?

    /// Creates a change.
    public init(user: UserKey, old: Int64?, new: Int64?) {
        self.user = user
        self.old = old
        self.new = new
    }
}

/// The timer index, as Flink keeps event-time timers in its state backend: one empty-valued key
/// per (partition, time, user), `t`, partition (big endian), time (big endian, sign bit flipped so
/// that keys sort by time), user id. It is derived from the states (each user's next window change
/// after its newest event or last timer), so it is not in the changelog: a partition whose users
/// were restored from the changelog has it rebuilt (`rebuildTimers`), which the `tb/` marker tracks.
extension StateStore {
    static func timerPrefix(_ partition: Int32) -> [UInt8] {
        var key: [UInt8] = [0x74]
        withUnsafeBytes(of: partition.bigEndian) { key.append(contentsOf: $0) }
        return key
    }

    static func timerKey(_ user: UserKey, at timeMs: Int64) -> [UInt8] {
        var key = timerPrefix(user.partition)
        withUnsafeBytes(of: (UInt64(bitPattern: timeMs) ^ (1 << 63)).bigEndian) { key.append(contentsOf: $0) }
        key.append(contentsOf: user.userID)
        return key
    }

    static func timersBuiltKey(_ partition: Int32) -> [UInt8] {
        var key = Array("tb/".utf8)
        withUnsafeBytes(of: partition.bigEndian) { key.append(contentsOf: $0) }
        return key
    }

    /// Adds a change's deletes and puts to the pending write.
    func stage(_ change: TimerChange) {
        guard change.old != change.new else { return }
        if let old = change.old { writes.delete(Self.timerKey(change.user, at: old)) }
        if let new = change.new { writes.put(Self.timerKey(change.user, at: new), []) }
    }

    /// Adds the deletion of every timer of `partition` (and its built marker) to the pending write.
    func stageTimerReset(_ partition: Int32) {
        writes.deleteRange(from: Self.timerPrefix(partition), to: Self.timerPrefix(partition + 1))
        writes.delete(Self.timersBuiltKey(partition))
    }

    /// Writes timer changes alone (timers that fired, and their next times), atomically.
    public func commitTimers(_ changes: [TimerChange]) throws {
        writes.clear()
        for change in changes { stage(change) }
        try db.write(writes, durability: .unlogged)
    }

    /// Up to `limit` timers of `partition` due at or before `timeMs`, earliest first.
    public func dueTimers(partition: Int32, upTo timeMs: Int64, limit: Int) throws -> [(user: UserKey, timeMs: Int64)] {
        var due: [(user: UserKey, timeMs: Int64)] = []
        let prefix = Self.timerPrefix(partition)
        try db.scan(prefix: prefix) { key, _ in
            guard key.count >= prefix.count + 8 else { return true }
            let time = Int64(bitPattern: UInt64(bigEndian: key.loadUnaligned(fromByteOffset: prefix.count, as: UInt64.self)) ^ (1 << 63))
            guard time <= timeMs else { return false }
            due.append((UserKey(partition: partition, userID: Array(key[(prefix.count + 8)...])), time))
            return due.count < limit
        }
        return due
    }

    /// Every timer of `partition` (for checks), earliest first.
    public func timers(partition: Int32) throws -> [(user: UserKey, timeMs: Int64)] {
        try dueTimers(partition: partition, upTo: Int64.max, limit: Int.max)
    }

    /// Whether `partition`'s timers are known to match its states (built, and kept since).
    public func timersBuilt(partition: Int32) throws -> Bool { try db.get(Self.timersBuiltKey(partition)) != nil }

    /// Schedules every stored user of `partition` anew at `schedule(state)` (nil: no timer) and marks
    /// the partition's timers built, in one write. Returns the number of timers scheduled.
    @discardableResult
    public func rebuildTimers(partition: Int32, schedule: (UserState) -> Int64?) throws -> Int {
        var puts: [[UInt8]] = []
        try db.scan(prefix: UserKey.partitionPrefix(partition)) { key, value in
            guard let user = Self.userKey(key) else { return true }
            if let time = schedule(try UserStateCodec.decode(value, expectedWidth: width)) { puts.append(Self.timerKey(user, at: time)) }
            return true
        }
        writes.clear()
        stageTimerReset(partition)
        for key in puts { writes.put(key, []) }
        writes.put(Self.timersBuiltKey(partition), [1])
        try db.write(writes, durability: .unlogged)
        return puts.count
    }

    /// The newest event time of any stored user of `partition` (the partition's event-time
    /// watermark), nil without users. Reads the time from each state's header, without decoding it.
    public func newestEventTime(partition: Int32) throws -> Int64? {
        var newest: Int64?
        try db.scan(prefix: UserKey.partitionPrefix(partition)) { _, value in
            if let t = UserStateCodec.newestEventTime(value), t > newest ?? Int64.min { newest = t }
            return true
        }
        return newest
    }
}
