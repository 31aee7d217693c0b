// The worker's durable state: user states and consumed offsets in one RocksDB, written atomically.
import Foundation
import UserRepModel

/// Per-user state plus the input offsets and changelog checkpoint it reflects. `commit` writes them
/// in one atomic RocksDB write, so after any crash the store holds a consistent (state, offsets,
/// checkpoint) triple. Those writes skip RocksDB's write-ahead log, as Kafka Streams does: the
/// changelog is the durable copy, a crash loses only writes since the last memtable flush, and
/// RocksDB recovers to a consistent earlier point from which the worker replays the changelog.
///
/// A commit's RocksDB write (staging its batch, then the memtable inserts: together about a
/// quarter of the worker thread's time) runs on a thread of its own while the worker starts its
/// next cycle.
/// Nothing can observe it half done: every method that reads or writes RocksDB waits for it first
/// (`settle`, through `db`), except reads of users it does not write, and a failed write fails
/// every later call. It changes no crash outcome, since these writes are unlogged anyway.
public final class StateStore: @unchecked Sendable {
    // Used from the worker thread only (the last commit's write aside); RocksDB itself is thread safe.
    private let database: RocksDB
    /// RocksDB, once the last commit's write is in it.
    var db: RocksDB {
        get throws {
            try settle()
            return database
        }
    }
    /// Writes being staged. Never the batch of a write in flight: a commit hands its batch over
    /// and stages the next writes in another.
    private(set) var writes: RocksDBAtomicWrite
    /// The batch of the last settled write, for the next commit to hand over.
    private var spareWrites: RocksDBAtomicWrite?
    /// The last commit's write, while it may still run.
    private var inFlight: BackgroundWrite<UserKey>?
    /// Per partition, the timer changes of the write in flight (`dueTimers` reads around it).
    var inFlightTimers: [Int32: InFlightTimers] = [:]
    /// RocksDB without waiting for the write in flight, for reads of keys it does not change.
    var unsettled: RocksDB {
        get throws {
            if let writeFailure { throw writeFailure }
            return database
        }
    }
    /// Commits' writes that a later call had to wait for (or found done): for tests.
    private(set) var writesWaitedFor = 0
    /// Why a commit's write failed: every later call fails with it (the store may lack that write).
    private var writeFailure: (any Error)?
    private let writer = DispatchQueue(label: "userrep.state-write", qos: .userInitiated)
    /// For tests: runs on the write's thread before each commit's write (to hold it in flight, or fail it).
    var beforeEachWrite: (@Sendable () throws -> Void)?
    /// Write-through cache of decoded states: RocksDB stays the durable copy, and every commit
    /// updates both, so a cached state is never newer or older than the stored one. A checked-out
    /// user keeps its entry, emptied (nil), until the commit puts the state back: taking a value
    /// out of its bucket costs one lookup, where deleting and re-inserting the entry cost a
    /// backward shift of the hash table's probe chain and a second lookup (a quarter of the CPU of
    /// a 2M-listen backlog with a small cache, by perf).
    private var cache: [UserKey: UserState?] = [:]
    /// Entries of `cache` emptied by `checkOut` and not yet filled by a commit.
    private var emptiedEntries = 0
    /// The tiles stored for each user checked out and not yet committed: a commit writes the
    /// tiles its state holds beyond these and deletes those it no longer holds.
    private var checkedOutTiles: [UserKey: [TileID]] = [:]
    /// Per partition, where its earliest timer may be (see `TimerFloor`); no entry: unknown.
    var timerFloors: [Int32: TimerFloor] = [:]
    /// Bytes of user state written so far (for the benchmark's state-size figure).
    public private(set) var stateBytesWritten = 0
    /// States `read` and `checkOut` looked up in RocksDB because the cache did not hold them (including users
    /// seen for the first time, whom RocksDB does not hold either).
    public private(set) var cacheMisses = 0
    /// Most user states kept decoded in memory.
    public let cacheCapacity: Int
    /// Most bytes of decoded states kept in memory (`UserState.memoryBytes`, summed).
    public let cacheBytesLimit: Int
    /// Bytes of the decoded states cached now.
    public private(set) var cachedBytes = 0
    /// Floats per listen embedding in every stored state.
    public let width: Int
    /// Track-embedding batch the stored aggregates were built from.
    public let embeddingBatchID: String

    /// The default bound of the decoded-state cache: 192 MiB.
    public static let defaultCacheBytes = 192 << 20

    private static let metaBatchKey = Array("meta/embedding_batch_id".utf8)
    private static let metaWidthKey = Array("meta/width".utf8)

    /// The embedding batch the store in `directory` was built from, nil if there is none yet (the
    /// store is opened and closed again).
    public static func storedEmbeddingBatch(directory: String) throws -> String? {
        guard FileManager.default.fileExists(atPath: directory + "/CURRENT") else { return nil }
        return try RocksDB(path: directory, blockCacheMB: 1).get(metaBatchKey).map { String(decoding: $0, as: UTF8.self) }
    }

    /// RocksDB's own memory for the store: its block cache (raw blocks of states read from disk,
    /// beside the decoded states of `cacheBytes`) and its memtables (up to two of at least
    /// `writeBufferMB`, each flushed on its own: a cycle's state write lands whole in one).
    public struct DatabaseMemory: Sendable, Equatable {
        /// MiB of RocksDB block cache.
        public var blockCacheMB: Int
        /// MiB per memtable.
        public var writeBufferMB: Int

        /// The defaults, or the given sizes.
        public init(blockCacheMB: Int = 32, writeBufferMB: Int = 16) {
            self.blockCacheMB = blockCacheMB
            self.writeBufferMB = writeBufferMB
        }
    }

    /// Opens (or creates) a store. Refuses a store built from another embedding batch or width,
    /// since mixing them would corrupt every aggregate.
    public init(
        directory: String, embeddingBatchID: String, width: Int, cacheCapacity: Int = 200_000,
        cacheBytes: Int = StateStore.defaultCacheBytes, database: DatabaseMemory = DatabaseMemory()
    ) throws {
        self.cacheCapacity = cacheCapacity
        self.cacheBytesLimit = cacheBytes
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        self.database = try RocksDB(path: directory, blockCacheMB: database.blockCacheMB, writeBufferMB: database.writeBufferMB)
        writes = try RocksDBAtomicWrite()
        self.width = width
        self.embeddingBatchID = embeddingBatchID
        let storedBatch = try db.get(Self.metaBatchKey).map { String(decoding: $0, as: UTF8.self) }
        let storedWidth = try db.get(Self.metaWidthKey).map { String(decoding: $0, as: UTF8.self) }
        if let storedBatch, storedBatch != embeddingBatchID {
            throw StateCorruption(
                message:
                    "state in \(directory) was built from embedding batch '\(storedBatch)' but the model needs '\(embeddingBatchID)'; give the new batch its own --state-dir and --changelog-topic"
            )
        }
        if let storedWidth, storedWidth != String(width) {
            throw StateCorruption(message: "state in \(directory) holds \(storedWidth)-float embeddings but the model uses \(width)")
        }
        if storedBatch == nil {
            writes.clear()
            writes.put(Self.metaBatchKey, Array(embeddingBatchID.utf8))
            writes.put(Self.metaWidthKey, Array(String(width).utf8))
            try db.write(writes, durability: .synced)
        }
    }

    /// Copies of the states of `keys` for reading, nil where a user has none yet; the cache keeps
    /// its own.
    public func read(_ keys: [UserKey]) throws -> [UserState?] { try load(keys, takingFromCache: false) }

    /// The states of `keys` for a cycle that changes them and commits them back: cached states
    /// leave the cache, so the caller holds the only copy and changes it in place (no copy).
    /// Until that commit, those users are read from RocksDB, which still holds their stored state
    /// (so a cycle that never commits loses nothing).
    public func checkOut(_ keys: [UserKey]) throws -> [UserState?] { try load(keys, takingFromCache: true) }

    /// The tiles the store holds for each of `users` as of their `checkOut` (none for a user not
    /// checked out, new, or stored whole by an earlier build): what `EncodedStates.encode` writes
    /// the new states against.
    public func storedTiles(_ users: [UserKey]) -> [[TileID]] { users.map { checkedOutTiles[$0] ?? [] } }

    private func load(_ keys: [UserKey], takingFromCache: Bool) throws -> [UserState?] {
        var result = [UserState?](repeating: nil, count: keys.count)
        var missing: [Int] = []
        for (i, key) in keys.enumerated() {
            guard let entry = cache.index(forKey: key), let cached = cache.values[entry] else {
                missing.append(i)
                continue
            }
            result[i] = cached
            if takingFromCache {
                cache.values[entry] = nil
                cachedBytes -= cached.memoryBytes
                emptiedEntries += 1
                // Cached states are committed ones, and commits store every state as head and tiles.
                checkedOutTiles[key] = cached.tiles.tileIDs
            }
        }
        guard !missing.isEmpty else { return result }
        cacheMisses += missing.count
        let users = missing.map { keys[$0] }
        let stored = try storedValues(users)
        for (j, state) in try withTiles(users, stored).enumerated() {
            result[missing[j]] = state
            guard takingFromCache else { continue }
            if case .head(let head) = stored[j] { checkedOutTiles[users[j]] = head.tileIDs } else { checkedOutTiles[users[j]] = nil }
        }
        return result
    }

    /// Stages a commit into `batch`: the states of `encoded` (at `keys`), in key order (the
    /// memtable's skip list then inserts each key next to the previous one instead of searching
    /// from its top level), then the offset and checkpoint `values`, then the `timers`.
    private static func stage(
        _ keys: [[UInt8]], _ encoded: EncodedStates, _ values: [([UInt8], Int64)], _ timers: [TimerChange], into batch: RocksDBAtomicWrite
    ) {
        let order = keys.indices.sorted { keys[$0].lexicographicallyPrecedes(keys[$1]) }
        // The states' exact size, and room for the offsets, checkpoints and timers.
        let small = RocksDBAtomicWrite.recordSize(key: 255, value: 255)
        let statesSize = keys.indices.reduce(0) { $0 + stagedSize(keys[$1], encoded, $1) }
        batch.reserve(statesSize + (64 << 10) + small * (values.count + 2 * timers.count))
        let emptySize = batch.byteSize
        for i in order { stageState(keys[i], encoded, i, into: batch) }
        assert(batch.byteSize - emptySize == statesSize, "states staged in \(batch.byteSize - emptySize) bytes, reserved \(statesSize)")
        for (key, value) in values { PartitionValues.put(value, key: key, into: batch) }
        for change in timers { stage(change, into: batch) }
    }

    /// Waits until the last commit's write is in RocksDB; throws if it (or an earlier one) failed.
    public func settle() throws {
        if let writeFailure { throw writeFailure }
        guard let pending = inFlight else { return }
        inFlight = nil
        inFlightTimers = [:]
        writesWaitedFor += 1
        do { try pending.wait() } catch {
            writeFailure = error
            throw error
        }
        spareWrites = pending.batch
    }

    /// RocksDB for reading `users`: at once, unless the write in flight changes one of them.
    func reader(for users: [UserKey]) throws -> RocksDB {
        if let pending = inFlight, users.contains(where: pending.keys.contains) { try settle() }
        return try unsettled
    }

    deinit { try? inFlight?.wait() }

    /// Forgets cached states of `partitions` (their state may be changed by another worker).
    public func evictCache(partitions: Set<Int32>) {
        cache = cache.filter { !partitions.contains($0.key.partition) }
        checkedOutTiles = checkedOutTiles.filter { !partitions.contains($0.key.partition) }
        cachedBytes = cache.values.reduce(0) { $0 + ($1?.memoryBytes ?? 0) }
        emptiedEntries = cache.values.reduce(0) { $0 + ($1 == nil ? 1 : 0) }
    }

    /// Writes the `states` of `users` (serialized in `encoded`, same order), the input `offsets`
    /// and the changelog `checkpoints` (per partition: the changelog offset after this state's
    /// newest record) in one atomic write. `encoded` is let go of once it is staged.
    public func commit(
        users: [UserKey], states: [UserState], encoded: consuming EncodedStates, offsets: [SourceOffset], checkpoints: [Int32: Int64] = [:],
        timers: [TimerChange] = []
    ) throws {
        precondition(encoded.count == users.count && states.count == users.count, "one state and one encoded state per user")
        try settle()
        let keys = users.map(\.storeKey)
        stateBytesWritten += encoded.byteCount + keys.indices.reduce(0) { $0 + Self.stagedKeyBytes(keys[$1], encoded, $1) }
        // The cycle's checked-out users are committed now, or (unchanged) keep their stored state.
        checkedOutTiles.removeAll(keepingCapacity: true)
        for change in timers { lowerTimerFloor(for: change) }
        let values =
            offsets.map { (Self.offsetKey(topic: $0.topic, partition: $0.partition), $0.next) }
            + checkpoints.map { (Self.checkpointKey($0.key), $0.value) }
        // Staging and the write go on while the worker does; the next call that needs them waits
        // (`settle`). Once written, the batch frees a cycle's worth of writes (see `clear`), and
        // RocksDB starts flushing the cycle's memtable while the next cycle runs (`flushIfFull`).
        let batch = writes
        writes = try spareWrites ?? RocksDBAtomicWrite()
        spareWrites = nil
        inFlightTimers = Dictionary(grouping: timers, by: \.user.partition).mapValues(InFlightTimers.init)
        let serialized = HandedOver(consume encoded)
        inFlight = BackgroundWrite(batch, keys: Set(users), on: writer) { [database, beforeEachWrite] batch in
            batch.clear()
            Self.stage(keys, serialized.take(), values, timers, into: batch)
            try beforeEachWrite?()
            try database.write(batch, durability: .unlogged)
            batch.clear()
            try database.flushIfFull()
        }
        let incoming = states.reduce(0) { $0 + $1.memoryBytes }
        let held = cache.count - emptiedEntries
        if held + users.count > cacheCapacity || cachedBytes + incoming > cacheBytesLimit {
            // Crude but O(1) per entry: drop an arbitrary half, or more until the cycle's states
            // fit in count and bytes; hot users come back on next use. The kept entries go into a
            // new table (an insert each), rather than deleting the dropped ones from this one (a
            // backward shift of the probe chain each); emptied entries are dropped too (a miss
            // either way, and this commit's users are put back below).
            var drop = max(held / 2, held + users.count - cacheCapacity)
            var kept: [UserKey: UserState?] = [:]
            kept.reserveCapacity(max(0, held - drop) + users.count)
            for (key, value) in cache {
                guard let state = value else { continue }
                if drop > 0 || cachedBytes + incoming > cacheBytesLimit {
                    cachedBytes -= state.memoryBytes
                    drop -= 1
                } else {
                    kept[key] = .some(state)
                }
            }
            cache = kept
            emptiedEntries = 0
        }
        // A cycle larger than the whole budget caches only what fits.
        for i in users.indices {
            let bytes = states[i].memoryBytes
            let entry = cache.index(forKey: users[i])
            if let entry {
                if let old = cache.values[entry] { cachedBytes -= old.memoryBytes } else { emptiedEntries -= 1 }
            }
            guard cachedBytes + bytes <= cacheBytesLimit else {
                if let entry { cache.remove(at: entry) }
                continue
            }
            if let entry { cache.values[entry] = states[i] } else { cache[users[i]] = .some(states[i]) }
            cachedBytes += bytes
        }
    }

    /// The changelog offset up to which `partition`'s stored users are known to reflect the
    /// changelog, nil if this store has never written or restored that partition.
    public func changelogCheckpoint(partition: Int32) throws -> Int64? { try int64(at: Self.checkpointKey(partition)) }

    /// Deletes every user and input offset (of `topics`) of `partition` and sets its changelog
    /// checkpoint to `checkpoint`, atomically, before the partition is rebuilt from the changelog.
    public func resetPartition(_ partition: Int32, topics: [String], checkpoint: Int64) throws {
        evictCache(partitions: [partition])
        writes.clear()
        writes.deleteRange(from: UserKey.partitionPrefix(partition), to: UserKey.partitionPrefix(partition + 1))
        for topic in topics { writes.delete(Self.offsetKey(topic: topic, partition: partition)) }
        stageTimerReset(partition)
        putInt64(checkpoint, key: Self.checkpointKey(partition))
        try db.write(writes, durability: .unlogged)
    }

    func putInt64(_ value: Int64, key: [UInt8]) { PartitionValues.put(value, key: key, into: writes) }

    /// The stored next offset of every partition of `topic` that has one.
    public func offsets(topic: String) throws -> [Int32: Int64] {
        try PartitionValues.scan(db, prefix: Self.offsetPrefix(topic: topic))
    }

    /// Flushes everything to disk (clean shutdown).
    public func flush() throws { try db.flush() }

    static func checkpointKey(_ partition: Int32) -> [UInt8] { PartitionValues.key(Array("c/".utf8), partition) }

    private static func offsetPrefix(topic: String) -> [UInt8] { Array("o/".utf8) + Array(topic.utf8) + [0] }

    static func offsetKey(topic: String, partition: Int32) -> [UInt8] {
        PartitionValues.key(offsetPrefix(topic: topic), partition)
    }
}
