// The hand-off time of a state seeded from a replay: which events the live topics still add.
import Foundation

extension StateStore {
    private static let handOffKey = Array("meta/hand_off_ms".utf8)
    private static let seedingKey = Array("meta/seeding_hand_off_ms".utf8)

    /// The event time up to which this state was built from a replay topic (`backfill
    /// --seed-group`): events of the live topics at or before it are in the state already. Nil for
    /// a state built from the live topics alone.
    public func handOffMs() throws -> Int64? { try int64(at: Self.handOffKey) }

    /// The hand-off time of a seed that began and has not finished (its changelog may be partial).
    public func unfinishedSeedMs() throws -> Int64? { try int64(at: Self.seedingKey) }

    /// Records the hand-off time (the newest of those recorded wins), synced to disk.
    public func recordHandOff(_ ms: Int64) throws {
        if let held = try handOffMs(), held >= ms { return }
        writes.clear()
        putInt64(ms, key: Self.handOffKey)
        try db.write(writes, durability: .synced)
    }

    /// Marks a seed with hand-off time `ms` as begun: until `finishSeed`, a stream worker refuses
    /// the store.
    public func beginSeed(_ ms: Int64) throws {
        writes.clear()
        putInt64(ms, key: Self.seedingKey)
        try db.write(writes, durability: .synced)
    }

    /// Ends a seed in one synced write: the changelog `checkpoints` of its records (per
    /// partition, the offset after the newest), the hand-off time, and the end of the mark.
    public func finishSeed(_ ms: Int64, checkpoints: [Int32: Int64]) throws {
        try flush()
        writes.clear()
        for (partition, next) in checkpoints { putInt64(next, key: Self.checkpointKey(partition)) }
        putInt64(ms, key: Self.handOffKey)
        writes.delete(Self.seedingKey)
        try db.write(writes, durability: .synced)
    }

    /// The little-endian Int64 stored at `key`, nil if there is none.
    func int64(at key: [UInt8]) throws -> Int64? {
        try db.get(key).flatMap { bytes in bytes.withUnsafeBytes { PartitionValues.decode($0) } }
    }
}
