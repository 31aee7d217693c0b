// The worker's durable state: user states and consumed offsets in one RocksDB, written atomically.
import Foundation
import UserRepModel

/// Durable per-user state plus the input offsets it reflects. `commit` writes both in one atomic
/// RocksDB batch, so after any crash the store holds a consistent (state, offsets) pair and the
/// worker resumes from exactly where that state ends.
public final class StateStore: @unchecked Sendable {
    // Used from the worker thread only; RocksDB itself is thread safe.
    private let db: RocksDB
    private let batch: RocksDBWriteBatch
    private var scratch: [UInt8] = []
    /// Write-through cache of decoded states: RocksDB stays the durable copy, and every commit
    /// updates both, so a cached state is never newer or older than the stored one.
    private var cache: [UserKey: UserState] = [:]
    /// Bytes of user state written so far (for the benchmark's state-size figure).
    public private(set) var stateBytesWritten = 0
    /// Most user states kept decoded in memory.
    public let cacheCapacity: Int
    /// Floats per listen embedding in every stored state.
    public let width: Int
    /// Track-embedding batch the stored aggregates were built from.
    public let embeddingBatchID: String

    private static let metaBatchKey = Array("meta/embedding_batch_id".utf8)
    private static let metaWidthKey = Array("meta/width".utf8)

    /// Opens (or creates) a store. Refuses a store built from another embedding batch or width,
    /// since mixing them would corrupt every aggregate.
    public init(directory: String, embeddingBatchID: String, width: Int, cacheCapacity: Int = 200_000) throws {
        self.cacheCapacity = cacheCapacity
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        db = try RocksDB(path: directory)
        batch = try RocksDBWriteBatch()
        self.width = width
        self.embeddingBatchID = embeddingBatchID
        let storedBatch = try db.get(Self.metaBatchKey).map { String(decoding: $0, as: UTF8.self) }
        let storedWidth = try db.get(Self.metaWidthKey).map { String(decoding: $0, as: UTF8.self) }
        if let storedBatch, storedBatch != embeddingBatchID {
            throw StateCorruption(message: "state in \(directory) was built from embedding batch '\(storedBatch)' but the model needs '\(embeddingBatchID)'; rebuild it with `userrep backfill` into a new --state-dir")
        }
        if let storedWidth, storedWidth != String(width) {
            throw StateCorruption(message: "state in \(directory) holds \(storedWidth)-float embeddings but the model uses \(width)")
        }
        if storedBatch == nil {
            batch.clear()
            batch.put(Self.metaBatchKey, Array(embeddingBatchID.utf8))
            batch.put(Self.metaWidthKey, Array(String(width).utf8))
            try db.write(batch, sync: true)
        }
    }

    /// Loads the states of `keys`, nil where a user has none yet.
    public func load(_ keys: [UserKey]) throws -> [UserState?] {
        var result = [UserState?](repeating: nil, count: keys.count)
        var missing: [Int] = []
        for (i, key) in keys.enumerated() {
            if let state = cache[key] { result[i] = state } else { missing.append(i) }
        }
        guard !missing.isEmpty else { return result }
        let raw = try db.multiGet(missing.map { keys[$0].storeKey })
        for (j, bytes) in raw.enumerated() {
            guard let bytes else { continue }
            result[missing[j]] = try bytes.withUnsafeBytes { try UserStateCodec.decode($0, expectedWidth: width) }
        }
        return result
    }

    /// Forgets cached states of `partitions` (their state may be changed by another worker).
    public func evictCache(partitions: Set<Int32>) {
        cache = cache.filter { !partitions.contains($0.key.partition) }
    }

    /// Writes `users` and `offsets` in one atomic batch.
    public func commit(users: [(UserKey, UserState)], offsets: [SourceOffset]) throws {
        batch.clear()
        for (key, state) in users {
            UserStateCodec.encode(state, into: &scratch)
            stateBytesWritten += scratch.count
            batch.put(key.storeKey, scratch)
        }
        for o in offsets {
            withUnsafeBytes(of: o.next.littleEndian) { v in
                Self.offsetKey(topic: o.topic, partition: o.partition).withUnsafeBytes { k in batch.put(k, v) }
            }
        }
        try db.write(batch)
        if cache.count + users.count > cacheCapacity {
            // Crude but O(1) per entry: drop an arbitrary half; hot users come back on next use.
            let drop = max(cache.count / 2, cache.count + users.count - cacheCapacity)
            for key in Array(cache.keys.prefix(drop)) { cache.removeValue(forKey: key) }
        }
        for (key, state) in users { cache[key] = state }
    }

    /// The stored next offset of every partition of `topic` that has one.
    public func offsets(topic: String) throws -> [Int32: Int64] {
        var result: [Int32: Int64] = [:]
        var prefix = Array("o/".utf8) + Array(topic.utf8)
        prefix.append(0)
        try db.scan(prefix: prefix) { key, value in
            guard key.count == prefix.count + 4, value.count == 8 else { return true }
            let partition = Int32(bigEndian: key.loadUnaligned(fromByteOffset: prefix.count, as: Int32.self))
            result[partition] = Int64(littleEndian: value.loadUnaligned(as: Int64.self))
            return true
        }
        return result
    }

    /// Calls `body` for every stored user, in key order, until it returns false.
    public func forEachUser(_ body: (UserKey, UserState) throws -> Bool) throws {
        try db.scan(prefix: [0x75]) { key, value in
            guard key.count >= 5 else { return true }
            let partition = Int32(bigEndian: key.loadUnaligned(fromByteOffset: 1, as: Int32.self))
            let user = UserKey(partition: partition, userID: Array(key[5...]))
            return try body(user, try UserStateCodec.decode(value, expectedWidth: width))
        }
    }

    /// Flushes everything to disk (clean shutdown).
    public func flush() throws { try db.flush() }

    private static func offsetKey(topic: String, partition: Int32) -> [UInt8] {
        var key = Array("o/".utf8) + Array(topic.utf8)
        key.append(0)
        withUnsafeBytes(of: partition.bigEndian) { key.append(contentsOf: $0) }
        return key
    }
}
