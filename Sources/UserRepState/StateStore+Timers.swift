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

/// Where a partition's earliest live timer key may be: a key at or before it, or nothing (the
/// partition has no timer). Kept in memory only: a new store scans the partition once to set it.
enum TimerFloor {
    /// No live timer key of the partition precedes this key.
    case key([UInt8])
    /// The partition has no live timer.
    case empty
}

/// A partition's timer changes in the write a commit left in flight: the keys it adds (in key
/// order, so earliest first) and deletes.
struct InFlightTimers {
    var added: [[UInt8]] = []
    var deleted: Set<[UInt8]> = []

    /// The net effect of `changes` (all of one partition), applied in order as the write applies them.
    init(_ changes: [TimerChange] = []) {
        var adds = Set<[UInt8]>()
        for change in changes where change.old != change.new {
            if let old = change.old {
                let key = StateStore.timerKey(change.user, at: old)
                adds.remove(key)
                deleted.insert(key)
            }
            if let new = change.new {
                let key = StateStore.timerKey(change.user, at: new)
                deleted.remove(key)
                adds.insert(key)
            }
        }
        added = adds.sorted { $0.lexicographicallyPrecedes($1) }
    }
}

/// The timer index, as Flink keeps event-time timers in its state backend: one empty-valued key
/// per (partition, time, user), `t`, partition (big endian), time (big endian, sign bit flipped so
/// that keys sort by time), user id. It is derived from the states (each user's next window change
/// after its newest event or last fired timer), so it is not in the changelog: each state restored
/// from the changelog schedules its next change again (after the fired time a timer step's record
/// carries, `applyChangelog`), and a store that predates timers (no `tb/` marker for a partition) has
/// the partition's timers rebuilt from its states (`rebuildTimers`).
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

    /// The key of the as-of time of a user's last fired timer.
    static func firedKey(_ user: UserKey) -> [UInt8] {
        var key = Array("tf/".utf8)
        withUnsafeBytes(of: user.partition.bigEndian) { key.append(contentsOf: $0) }
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
        Self.stage(change, into: writes)
        lowerTimerFloor(for: change)
    }

    /// Lowers the partition's floor to the timer `change` adds (the worker thread's half of `stage`).
    func lowerTimerFloor(for change: TimerChange) {
        guard change.old != change.new, let new = change.new else { return }
        lowerTimerFloor(to: Self.timerKey(change.user, at: new), partition: change.user.partition)
    }

    /// Adds a change's deletes and puts to `batch` (the half of `stage` that may run on any thread).
    static func stage(_ change: TimerChange, into batch: RocksDBAtomicWrite) {
        guard change.old != change.new else { return }
        if let old = change.old { batch.delete(timerKey(change.user, at: old)) }
        if let new = change.new { batch.put(timerKey(change.user, at: new), []) }
    }

    /// Adds a timer key to the pending write, and lowers the partition's floor to it. Every timer
    /// put lowers the floor (here, or through `lowerTimerFloor(for:)` for a commit's timers), so the
    /// floor stays at or below every live timer key. (A write that then fails leaves the floor
    /// lower than it need be, which costs only a longer scan.)
    func stageTimerPut(_ key: [UInt8], partition: Int32) {
        writes.put(key, [])
        lowerTimerFloor(to: key, partition: partition)
    }

    /// Moves the partition's floor down to `key` if it is later (an unknown floor stays unknown).
    private func lowerTimerFloor(to key: [UInt8], partition: Int32) {
        switch timerFloors[partition] {
        case nil: break
        case .empty: timerFloors[partition] = .key(key)
        case .key(let floor): if key.lexicographicallyPrecedes(floor) { timerFloors[partition] = .key(key) }
        }
    }

    /// Adds the deletion of every timer of `partition` to the pending write; the partition counts as
    /// built, since every state restored into it next schedules its own timer.
    func stageTimerReset(_ partition: Int32) {
        writes.deleteRange(from: Self.timerPrefix(partition), to: Self.timerPrefix(partition + 1))
        writes.put(Self.timersBuiltKey(partition), [1])
        // Unknown until the next scan (the range delete is only staged: the write may still fail).
        timerFloors[partition] = nil
    }

    /// Writes timer changes alone (timers that fired, and their next times), atomically and
    /// logged: a process that dies right after still has them, so the timers that fired do not
    /// fire again. (Timer keys are written unlogged too, with states; a lost one of those is
    /// scheduled again when its state is restored from the changelog, `scheduleRestored`.)
    /// `fired` records, per user re-encoded, the time its vector was as of: a state restored from
    /// the changelog later is scheduled after that time, not again before it.
    public func commitTimers(_ changes: [TimerChange], fired: [(user: UserKey, asOfMs: Int64)] = []) throws {
        writes.clear()
        for change in changes { stage(change) }
        for f in fired { putInt64(f.asOfMs, key: Self.firedKey(f.user)) }
        try db.write(writes, durability: .logged)
    }

    /// Stages, into the pending write, each fired time of `timersFired` (user id to as-of time) of
    /// `partition` that is later than the stored one; returns those.
    func stageFired(_ timersFired: [[UInt8]: Int64], partition: Int32) throws -> [[UInt8]: Int64] {
        let users = Array(timersFired.keys)
        var later: [[UInt8]: Int64] = [:]
        for (userID, stored) in zip(users, try firedAsOf(users.map { UserKey(partition: partition, userID: $0) })) {
            guard let time = timersFired[userID], time > stored ?? Int64.min else { continue }
            later[userID] = time
            putInt64(time, key: Self.firedKey(UserKey(partition: partition, userID: userID)))
        }
        return later
    }

    /// The as-of times of the last fired timers of `users` (nil: none fired since the store began).
    /// (Read at once: the write a commit leaves in flight holds no fired-timer record.)
    public func firedAsOf(_ users: [UserKey]) throws -> [Int64?] {
        try unsettled.multiGet(users.map(Self.firedKey)).map { bytes in
            bytes.flatMap { $0.count == 8 ? $0.withUnsafeBytes { Int64(littleEndian: $0.loadUnaligned(as: Int64.self)) } : nil }
        }
    }

    /// Up to `limit` timers of `partition` due at or before `timeMs`, earliest first.
    ///
    /// Fired timers are deleted from the front of the partition's key range, where their
    /// tombstones stay until a compaction; a scan from the range's start stepped over every one of
    /// them (8% of the CPU of a live run, by perf). So a scan starts at the partition's floor, and
    /// none starts when the floor is later than `timeMs`.
    ///
    /// It does not wait for the write a commit left in flight (see `StateStore`): that write's
    /// timer changes (`inFlightTimers`) are merged into what RocksDB holds without them.
    public func dueTimers(partition: Int32, upTo timeMs: Int64, limit: Int) throws -> [(user: UserKey, timeMs: Int64)] {
        let prefix = Self.timerPrefix(partition)
        let floor = timerFloors[partition]
        var start: [UInt8]?
        switch floor {
        case .empty: return []
        case .key(let key):
            if let time = Self.timerTime(key, prefixCount: prefix.count), time > timeMs { return [] }
            start = key
        case nil: break
        }
        let pending = inFlightTimers[partition] ?? InFlightTimers()
        var due: [(key: [UInt8], time: Int64)] = []
        var first: [UInt8]?
        try unsettled.scan(prefix: prefix, from: start) { key, _ in
            if first == nil { first = Array(key) }
            guard let time = Self.timerTime(key, prefixCount: prefix.count) else { return true }
            guard time <= timeMs else { return false }
            let key = Array(key)
            if !pending.deleted.contains(key) { due.append((key, time)) }
            return due.count < limit
        }
        // No live key lies before the floor, so the first one the scan met is the earliest, or
        // one the write in flight adds.
        let earliest = [first, pending.added.first].compactMap { $0 }.min { $0.lexicographicallyPrecedes($1) }
        timerFloors[partition] = earliest.map { .key($0) } ?? .empty
        if !pending.added.isEmpty {
            // The write may have landed since the scan began: then its keys were read already.
            let scanned = Set(due.map(\.key))
            for key in pending.added {
                guard let time = Self.timerTime(key, prefixCount: prefix.count), time <= timeMs else { break }
                if !scanned.contains(key) { due.append((key, time)) }
            }
            due.sort { $0.key.lexicographicallyPrecedes($1.key) }
            if due.count > limit { due.removeLast(due.count - limit) }
        }
        return due.map { (UserKey(partition: partition, userID: Array($0.key[(prefix.count + 8)...])), $0.time) }
    }

    /// The time of a timer key, nil for a key too short to be one.
    private static func timerTime<Key: Collection<UInt8>>(_ key: Key, prefixCount: Int) -> Int64? {
        guard key.count >= prefixCount + 8 else { return nil }
        var bits: UInt64 = 0
        for byte in key.dropFirst(prefixCount).prefix(8) { bits = bits << 8 | UInt64(byte) }
        return Int64(bitPattern: bits ^ (1 << 63))
    }

    /// Every timer of `partition` (for checks), earliest first.
    public func timers(partition: Int32) throws -> [(user: UserKey, timeMs: Int64)] {
        try dueTimers(partition: partition, upTo: Int64.max, limit: Int.max)
    }

    /// Whether `partition`'s timers are known to match its states (built, and kept since).
    public func timersBuilt(partition: Int32) throws -> Bool { try db.get(Self.timersBuiltKey(partition)) != nil }

    /// Schedules every stored user of `partition` anew at their next window change after their
    /// last fired timer, and marks the partition's timers built, in one write. Returns the timers
    /// scheduled.
    @discardableResult
    public func rebuildTimers(partition: Int32) throws -> Int {
        var puts: [[UInt8]] = []
        var users: [UserKey] = []
        var states: [StoredState] = []
        try forEachStoredValue(partition: partition) { user, state in
            users.append(user)
            states.append(state)
        }
        for (i, fired) in try firedAsOf(users).enumerated() {
            if let time = states[i].nextWindowChange(after: fired) { puts.append(Self.timerKey(users[i], at: time)) }
        }
        writes.clear()
        stageTimerReset(partition)
        for key in puts { stageTimerPut(key, partition: partition) }
        try db.write(writes, durability: .unlogged)
        return puts.count
    }

    /// The newest event time of any stored user of `partition` (the partition's event-time
    /// watermark), nil without users. Reads the time from each state's header, without decoding it.
    public func newestEventTime(partition: Int32) throws -> Int64? {
        var newest: Int64?
        try db.scan(prefix: UserKey.partitionPrefix(partition)) { key, value in
            guard Self.userKey(key) != nil else { return true }
            if let t = UserStateCodec.newestEventTime(value), t > newest ?? Int64.min { newest = t }
            return true
        }
        return newest
    }
}
