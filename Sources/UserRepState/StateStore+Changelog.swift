// Applying changelog records (heads, tiles, tombstones, fired timers) to the store during a restore.
import UserRepModel

/// One state record of a changelog partition: a user's head (or whole state, or a tombstone for
/// the user), or one of its tiles (or a tile's tombstone).
public struct ChangelogStateRecord: Sendable, Equatable {
    /// The user id.
    public var userID: [UInt8]
    /// The tile, nil for the user's head.
    public var tile: TileID?
    /// The serialized head, whole state or tile sums; nil deletes.
    public var value: [UInt8]?

    /// Creates a record.
    public init(userID: [UInt8], tile: TileID? = nil, value: [UInt8]?) {
        self.userID = userID
        self.tile = tile
        self.value = value
    }
}

extension StateStore {
    /// Applies changelog records of `partition`, validating each, and advances the partition's
    /// checkpoint to `checkpoint`, atomically. Tile records are applied as they come: a tile id
    /// always holds the same sums (`TileID`), so order and writer do not matter, and a tile no
    /// head refers to is never read. A head whose applied offsets are behind the state already
    /// held for its user (in either input topic) is skipped: only a worker that kept writing after
    /// losing the partition (a zombie), or a cycle redone after a crash, writes such a record.
    /// `timersFired` holds, per user id, the as-of time of a fired timer read from the changelog
    /// (`ChangelogRestorer.timerFiredKeyPrefix`): kept as the user's last fired timer when later
    /// than the stored one, with the user's timer scheduled after it, so the timer does not fire
    /// again. With `inputTopics` (in lane order, `InputLane`), each lane's stored next offset of
    /// `partition` moves forward to one past the newest offset an applied head reflects (never
    /// back): for a changelog written in transactions with the input offsets, whose states are
    /// therefore never ahead of the offsets committed with them. Returns the number of heads skipped.
    @discardableResult
    public func applyChangelog(
        partition: Int32, records: [ChangelogStateRecord], timersFired: [[UInt8]: Int64] = [:], checkpoint: Int64,
        advancingOffsetsOf inputTopics: [String]? = nil
    ) throws -> Int {
        evictCache(partitions: [partition])
        let heads = records.filter { $0.tile == nil }.map { UserKey(partition: partition, userID: $0.userID) }
        let stored = try storedValues(heads)
        // The newest state kept per user so far: stored, or an earlier record of these records.
        var held: [[UInt8]: StoredState?] = [:]
        for (user, value) in zip(heads, stored) where held[user.userID] == nil { held[user.userID] = .some(value) }
        var stale = 0
        var restored: [(user: UserKey, state: StoredState)] = []
        writes.clear()
        let newlyFired = try stageFired(timersFired, partition: partition)
        func corrupt(_ userID: [UInt8], _ error: StateCorruption) -> StateCorruption {
            StateCorruption(
                message: "changelog record of user '\(String(decoding: userID, as: UTF8.self))' in partition \(partition): \(error.message)")
        }
        for record in records {
            let user = UserKey(partition: partition, userID: record.userID)
            let key = user.storeKey
            if let tile = record.tile {
                let tileKey = TileRecord.key(key, tile)
                guard let value = record.value else {
                    writes.delete(tileKey)
                    continue
                }
                do { try value.withUnsafeBytes { try TileRecord.validate($0, width: width) } } catch let error as StateCorruption {
                    throw corrupt(record.userID, error)
                }
                writes.put(tileKey, value)
                continue
            }
            guard let value = record.value else {
                stageUserDeletion(key)
                held[record.userID] = .some(nil)
                continue
            }
            let incoming: StoredState
            do { incoming = try value.withUnsafeBytes { try UserStateCodec.decodeStored($0, expectedWidth: width) } } catch let error
                as StateCorruption
            {
                throw corrupt(record.userID, error)
            }
            if let previous = held[record.userID] ?? nil, any(incoming.appliedOffsets .< previous.appliedOffsets) {
                stale += 1
                continue
            }
            held[record.userID] = incoming
            // A whole state replaces a head: tiles it leaves behind are never read.
            writes.put(key, value)
            restored.append((user, incoming))
        }
        let fired = try firedAsOf(restored.map(\.user))
        // Each restored state's timer, after its newest event and its last fired timer (timer keys
        // written with states may have been lost with them).
        for (i, (user, state)) in restored.enumerated() {
            if let next = state.nextWindowChange(after: newlyFired[user.userID] ?? fired[i]) {
                stageTimerPut(Self.timerKey(user, at: next), partition: partition)
            }
        }
        // A user whose timer fired but whose state came earlier: its next timer after the fired time
        // (the one due before it, if the store still has it, is dropped as stale when it comes due).
        let restoredUsers = Set(restored.map(\.user.userID))
        let others = newlyFired.keys.filter { !restoredUsers.contains($0) }.map { UserKey(partition: partition, userID: $0) }
        for (user, stored) in zip(others, try storedValues(others)) {
            let state = held[user.userID] ?? stored
            if let state, let time = newlyFired[user.userID], let next = state.nextWindowChange(after: time) {
                stageTimerPut(Self.timerKey(user, at: next), partition: partition)
            }
        }
        if let inputTopics { try stageOffsetsReflected(by: restored.map(\.state), partition: partition, topics: inputTopics) }
        putInt64(checkpoint, key: Self.checkpointKey(partition))
        try db.write(writes, durability: .unlogged)
        return stale
    }

    /// Stages, per lane of `topics`, `partition`'s next offset after the newest one `states`
    /// reflect, where that is past the stored one.
    private func stageOffsetsReflected(by states: [StoredState], partition: Int32, topics: [String]) throws {
        var newest = SIMD2<Int64>(repeating: -1)
        for state in states { newest = pointwiseMax(newest, state.appliedOffsets) }
        for (lane, topic) in zip(InputLane.allCases, topics) where newest[lane.rawValue] >= 0 {
            let key = Self.offsetKey(topic: topic, partition: partition)
            let next = newest[lane.rawValue] + 1
            if next > (try int64(at: key) ?? -1) { putInt64(next, key: key) }
        }
    }

    /// Moves the changelog checkpoints of the partitions in `checkpoints` forward to the offsets
    /// given (never back), for changelog records whose effect the store already holds (a timer
    /// step's fired-timer records, committed with its timers). Unlogged like the states' writes,
    /// so that recovery never keeps a checkpoint without the states before it.
    public func advanceChangelogCheckpoints(_ checkpoints: [Int32: Int64]) throws {
        writes.clear()
        for (partition, next) in checkpoints where next > (try changelogCheckpoint(partition: partition) ?? Int64.min) {
            putInt64(next, key: Self.checkpointKey(partition))
        }
        try db.write(writes, durability: .unlogged)
    }
}
