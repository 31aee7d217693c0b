// Owns an open RocksDB database and its option objects.
import CRocksDB

/// An open RocksDB database. Reads and atomic writes are thread safe in RocksDB; this wrapper
/// adds no locking.
public final class RocksDB: @unchecked Sendable {
    private let db: OpaquePointer
    /// The default column family (the only one), which batched multi-gets name.
    private let defaultFamily: OpaquePointer
    private let options: OpaquePointer
    private let syncedWrites: OpaquePointer
    private let unloggedWrites: OpaquePointer
    private let loggedWrites: OpaquePointer
    private let readOptions: OpaquePointer
    private let tableOptions: OpaquePointer
    private let blockCache: OpaquePointer
    /// Directory of the database.
    public let path: String
    /// Bytes at which a memtable is full.
    private let writeBufferBytes: Int

    /// Opens (creating if missing) the database at `path`, with a block cache of `blockCacheMB`
    /// and memtables of `writeBufferMB` (up to two of them, each flushed on its own).
    public init(path: String, blockCacheMB: Int = 256, writeBufferMB: Int = 128) throws {
        self.path = path
        writeBufferBytes = max(1, writeBufferMB) << 20
        guard let options = rocksdb_options_create(), let synced = rocksdb_writeoptions_create(),
            let unlogged = rocksdb_writeoptions_create(), let logged = rocksdb_writeoptions_create(),
            let readOptions = rocksdb_readoptions_create(),
            let tableOptions = rocksdb_block_based_options_create(),
            let blockCache = rocksdb_cache_create_lru(max(1, blockCacheMB) << 20)
        else { throw RocksDBError("cannot allocate RocksDB options") }
        self.options = options
        self.tableOptions = tableOptions
        self.blockCache = blockCache
        // A user's state is read by key from whichever file holds its newest version: bloom
        // filters let a lookup skip the other files, and the cache keeps hot blocks decoded.
        rocksdb_block_based_options_set_block_cache(tableOptions, blockCache)
        rocksdb_block_based_options_set_filter_policy(tableOptions, rocksdb_filterpolicy_create_bloom(10))
        rocksdb_options_set_block_based_table_factory(options, tableOptions)
        rocksdb_writeoptions_set_sync(synced, 1)
        rocksdb_writeoptions_disable_WAL(unlogged, 1)
        syncedWrites = synced
        unloggedWrites = unlogged
        loggedWrites = logged
        self.readOptions = readOptions
        rocksdb_options_set_create_if_missing(options, 1)
        rocksdb_options_increase_parallelism(options, 2)
        // Each full memtable is flushed on its own, and at most two are held (one being written,
        // one being flushed). A cycle's state commit is one write batch, which lands whole in one
        // memtable however large it is, so the memtables held are counted in cycles, not in
        // `writeBufferMB`: merging two before a flush (to drop overwritten users) kept up to four
        // of them, 132 MB on the 2M-listen/100k-user unclustered backlog. Peak RSS there,
        // interleaved, 33–132 MiB lower in each of 7 pairs over two sittings (999–1,128 against
        // 951–1,000, then 1,118–1,137 against 1,036–1,086); CPU within the spread there (39.8
        // against 41.6 s on average), and on bench's 300k backlog 21.8 against 23.6 µs per event
        // on average over 4 pairs (20.5–22.8 against 21.1–26.4): perhaps a few per cent.
        rocksdb_options_set_write_buffer_size(options, writeBufferBytes)
        rocksdb_options_set_max_write_buffer_number(options, 2)
        rocksdb_options_set_min_write_buffer_number_to_merge(options, 1)
        // A bloom filter per memtable: looking up a user the memtables do not hold (a new user,
        // or one last written long ago) then skips their skip lists.
        rocksdb_options_set_memtable_prefix_bloom_size_ratio(options, 0.02)
        rocksdb_options_set_memtable_whole_key_filtering(options, 1)
        // Sums of float embeddings do not compress; spend no CPU trying.
        rocksdb_options_set_compression(options, Int32(rocksdb_no_compression))
        // Recover to the last consistent write batch after a crash; batches are atomic, so the
        // store never holds state without the offsets that produced it.
        rocksdb_options_set_wal_recovery_mode(options, 2)  // kPointInTimeRecovery
        var err: UnsafeMutablePointer<CChar>?
        // Opened with its column family named, for the handle that batched multi-gets take.
        var handles: [OpaquePointer?] = [nil]
        let opened = "default".withCString { name -> OpaquePointer? in
            var names: [UnsafePointer<CChar>?] = [name]
            var familyOptions: [OpaquePointer?] = [options]
            return rocksdb_open_column_families(options, path, 1, &names, &familyOptions, &handles, &err)
        }
        guard let db = opened, let family = handles[0] else {
            try RocksDBError.check(err, "cannot open RocksDB at \(path)")
            throw RocksDBError("cannot open RocksDB at \(path)")
        }
        self.db = db
        defaultFamily = family
    }

    /// The value stored under `key`, nil if absent.
    public func get(_ key: [UInt8]) throws -> [UInt8]? {
        var length = 0
        var err: UnsafeMutablePointer<CChar>?
        let value = key.withUnsafeBufferPointer { k in
            k.withMemoryRebound(to: CChar.self) { rocksdb_get(db, readOptions, $0.baseAddress, $0.count, &length, &err) }
        }
        try RocksDBError.check(err, "RocksDB get failed")
        guard let value else { return nil }
        defer { rocksdb_free(value) }
        return Array(UnsafeRawBufferPointer(start: value, count: length))
    }

    /// Looks up many keys in one call; results are in the order of `keys`, nil where absent.
    /// RocksDB's batched lookup sorts the keys and reads each data block once for all the keys
    /// it holds (a user's head and tiles are neighbours), where one lookup per key read it again.
    public func multiGet(_ keys: [[UInt8]]) throws -> [[UInt8]?] {
        let n = keys.count
        guard n > 0 else { return [] }
        var values = [OpaquePointer?](repeating: nil, count: n)
        var errs = [UnsafeMutablePointer<CChar>?](repeating: nil, count: n)
        Self.countNothingOnThisThread()
        let keySizes = keys.map(\.count)
        // Keep every key's storage pinned while RocksDB reads it.
        let flat = keys.flatMap { $0 }
        flat.withUnsafeBufferPointer { buffer in
            let base = buffer.baseAddress.map { UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self) }
            var pointers = [UnsafePointer<CChar>?](repeating: nil, count: n)
            var at = 0
            for i in 0..<n {
                pointers[i] = base.map { $0 + at }
                at += keys[i].count
            }
            rocksdb_batched_multi_get_cf(db, readOptions, defaultFamily, n, &pointers, keySizes, &values, &errs, false)
        }
        var result: [[UInt8]?] = []
        result.reserveCapacity(n)
        var firstError: String?
        for i in 0..<n {
            if let e = errs[i] {
                if firstError == nil { firstError = String(cString: e) }
                rocksdb_free(e)
            }
            if let slice = values[i] {
                var length = 0
                let bytes = rocksdb_pinnableslice_value(slice, &length)
                result.append(bytes.map { Array(UnsafeRawBufferPointer(start: $0, count: length)) } ?? [])
                rocksdb_pinnableslice_destroy(slice)
            } else {
                result.append(nil)
            }
        }
        if let firstError { throw RocksDBError("RocksDB multi-get failed: \(firstError)") }
        return result
    }

    /// How a write survives a crash.
    public enum Durability: Sendable {
        /// Logged and synced to disk before `write` returns.
        case synced
        /// Memtable only, lost if the process dies before the next flush. Batches stay atomic and
        /// flushes keep their order, so a crash recovers a consistent earlier point: for data
        /// that can be rebuilt from elsewhere. Do not mix with logged writes after the first
        /// unlogged one, or recovery may keep a later logged write without earlier unlogged ones.
        case unlogged
        /// Logged but not synced: survives the process dying (the log is in the OS's page cache),
        /// not the machine. For keys no unlogged write touches (recovery may keep such a write
        /// without unlogged ones before it).
        case logged
    }

    /// Turns off RocksDB's per-thread perf counters on the calling thread. RocksDB counts every
    /// key comparison in them by default (perf level `kEnableCount`), and each count is a
    /// thread-local lookup through the dynamic linker (`__tls_get_addr`, and the `perf_context`
    /// init wrapper): about 2% of all CPU samples of bench's backlog, inside a cycle's memtable
    /// inserts. The level is per thread, and writes run on pool threads, so it is set per call.
    static func countNothingOnThisThread() { rocksdb_set_perf_level(Int32(rocksdb_disable)) }

    /// Applies `writes` atomically with the given durability.
    public func write(_ writes: RocksDBAtomicWrite, durability: Durability) throws {
        let options =
            switch durability {
            case .synced: syncedWrites
            case .unlogged: unloggedWrites
            case .logged: loggedWrites
            }
        Self.countNothingOnThisThread()
        var err: UnsafeMutablePointer<CChar>?
        rocksdb_write(db, options, writes.pointer, &err)
        try RocksDBError.check(err, "RocksDB write failed")
    }

    /// Calls `body` with every key/value whose key starts with `prefix`, in key order, from the
    /// first key at or after `start` (default: the prefix itself), until it returns false.
    /// The iterator is bounded above by the prefix's successor, so deleted keys past the prefix
    /// (say, fired timers of the next partition) are never skipped over one by one.
    public func scan(
        prefix: [UInt8], from start: [UInt8]? = nil, _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Bool
    ) throws {
        guard let options = rocksdb_readoptions_create() else { throw RocksDBError("cannot allocate RocksDB read options") }
        defer { rocksdb_readoptions_destroy(options) }
        // RocksDB keeps a pointer to the bound, so it lives (and stays put) until the iterator is gone.
        let bound = Self.successor(of: prefix)
        let boundBytes = UnsafeMutableBufferPointer<CChar>.allocate(capacity: max(1, bound?.count ?? 0))
        defer { boundBytes.deallocate() }
        if let bound {
            for (i, b) in bound.enumerated() { boundBytes[i] = CChar(bitPattern: b) }
            rocksdb_readoptions_set_iterate_upper_bound(options, boundBytes.baseAddress, bound.count)
        }
        guard let it = rocksdb_create_iterator(db, options) else { throw RocksDBError("cannot create iterator") }
        defer { rocksdb_iter_destroy(it) }
        (start ?? prefix).withUnsafeBufferPointer { p in
            p.withMemoryRebound(to: CChar.self) { rocksdb_iter_seek(it, $0.baseAddress, $0.count) }
        }
        while rocksdb_iter_valid(it) != 0 {
            var kl = 0, vl = 0
            guard let k = rocksdb_iter_key(it, &kl), let v = rocksdb_iter_value(it, &vl) else { break }
            let key = UnsafeRawBufferPointer(start: k, count: kl)
            guard key.starts(with: prefix) else { break }
            guard try body(key, UnsafeRawBufferPointer(start: v, count: vl)) else { break }
            rocksdb_iter_next(it)
        }
        var err: UnsafeMutablePointer<CChar>?
        rocksdb_iter_get_error(it, &err)
        try RocksDBError.check(err, "RocksDB scan failed")
    }

    /// The smallest key after every key that starts with `prefix`, nil if there is none (an empty
    /// prefix, or one of 0xFF bytes only).
    static func successor(of prefix: [UInt8]) -> [UInt8]? {
        guard let last = prefix.lastIndex(where: { $0 != 0xFF }) else { return nil }
        var bound = Array(prefix[...last])
        bound[last] += 1
        return bound
    }

    /// Flushes memtables to disk (used before a clean shutdown).
    public func flush() throws { try flush(wait: true) }

    /// Starts flushing the memtable being written if it is full and no other is being flushed,
    /// and returns at once. RocksDB would otherwise switch a full memtable only at the next write,
    /// so a cycle's states (tens of MB, landing whole in one memtable) stayed in memory through
    /// the next cycle and its commit, beside that commit's own memtable; flushed now, they are
    /// gone by then. The files written are the same, only sooner.
    public func flushIfFull() throws {
        guard let active = intProperty("rocksdb.cur-size-active-mem-table"), active >= writeBufferBytes,
            intProperty("rocksdb.num-immutable-mem-table") == 0
        else { return }
        try flush(wait: false)
    }

    private func flush(wait: Bool) throws {
        guard let fo = rocksdb_flushoptions_create() else { return }
        defer { rocksdb_flushoptions_destroy(fo) }
        rocksdb_flushoptions_set_wait(fo, wait ? 1 : 0)
        var err: UnsafeMutablePointer<CChar>?
        rocksdb_flush(db, fo, &err)
        try RocksDBError.check(err, "RocksDB flush failed")
    }

    /// An integer property of the database (`rocksdb.…`), nil if RocksDB does not know it.
    public func intProperty(_ name: String) -> Int? {
        var value: UInt64 = 0
        return rocksdb_property_int(db, name, &value) == 0 ? Int(value) : nil
    }

    deinit {
        rocksdb_column_family_handle_destroy(defaultFamily)
        rocksdb_close(db)
        rocksdb_options_destroy(options)
        for w in [syncedWrites, unloggedWrites, loggedWrites] { rocksdb_writeoptions_destroy(w) }
        rocksdb_readoptions_destroy(readOptions)
        rocksdb_block_based_options_destroy(tableOptions)
        rocksdb_cache_destroy(blockCache)
    }
}
