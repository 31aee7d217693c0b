// Owns a RocksDB WriteBatch (RocksDB's name): puts and deletes applied atomically together.
import CRocksDB

#if canImport(Glibc)
    import Glibc
#endif

/// A set of puts and deletes applied atomically by `RocksDB.write`.
public final class RocksDBAtomicWrite {
    private(set) var pointer: OpaquePointer

    /// Creates an empty set of writes.
    public init() throws {
        guard let batch = rocksdb_writebatch_create() else { throw RocksDBError("cannot allocate a RocksDB write batch") }
        pointer = batch
    }

    /// Sets `key` to `value`.
    public func put(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) {
        rocksdb_writebatch_put(
            pointer, key.baseAddress?.assumingMemoryBound(to: CChar.self), key.count,
            value.baseAddress?.assumingMemoryBound(to: CChar.self), value.count)
    }

    /// Sets `key` to `value`.
    public func put(_ key: [UInt8], _ value: [UInt8]) {
        key.withUnsafeBytes { k in value.withUnsafeBytes { v in put(k, v) } }
    }

    /// Removes `key`.
    public func delete(_ key: [UInt8]) {
        key.withUnsafeBytes { rocksdb_writebatch_delete(pointer, $0.baseAddress?.assumingMemoryBound(to: CChar.self), $0.count) }
    }

    /// Removes every key in `start..<end`.
    public func deleteRange(from start: [UInt8], to end: [UInt8]) {
        start.withUnsafeBytes { s in
            end.withUnsafeBytes { e in
                rocksdb_writebatch_delete_range(
                    pointer, s.baseAddress?.assumingMemoryBound(to: CChar.self), s.count,
                    e.baseAddress?.assumingMemoryBound(to: CChar.self), e.count)
            }
        }
    }

    /// Makes room for `bytes` of writes (`byteSize` once they are queued) in one allocation, if
    /// nothing is queued yet. RocksDB's buffer otherwise doubles as it grows, and every smaller
    /// buffer it leaves behind was written once: a cycle's 74 MB of states took ~185 MB of RSS to
    /// stage, against the batch's own size with room made first. (RocksDB 7.8's C API has no
    /// reserve: the batch is created from `bytes` of zeros read from a fresh anonymous mapping,
    /// which costs no memory of its own, and emptied; emptying keeps the buffer.)
    public func reserve(_ bytes: Int) {
        guard count == 0, bytes > Self.keptBytes else { return }
        #if canImport(Glibc)
            guard let zeros = mmap(nil, bytes, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), zeros != MAP_FAILED else { return }
            defer { munmap(zeros, bytes) }
            guard let sized = rocksdb_writebatch_create_from(zeros.assumingMemoryBound(to: CChar.self), bytes) else { return }
            rocksdb_writebatch_clear(sized)
            rocksdb_writebatch_destroy(pointer)
            pointer = sized
        #endif
    }

    /// Bytes RocksDB's representation takes for a put of a `key`-byte key and a `value`-byte
    /// value (a tag, two varint lengths and the bytes), or a deletion (`value` nil).
    public static func recordSize(key: Int, value: Int?) -> Int {
        func varint(_ n: Int) -> Int { n < 1 << 7 ? 1 : n < 1 << 14 ? 2 : n < 1 << 21 ? 3 : n < 1 << 28 ? 4 : 5 }
        return 1 + varint(key) + key + (value.map { varint($0) + $0 } ?? 0)
    }

    /// Number of operations queued.
    public var count: Int { Int(rocksdb_writebatch_count(pointer)) }

    /// Bytes of the serialized writes (RocksDB's representation, header included).
    public var byteSize: Int {
        var size = 0
        _ = rocksdb_writebatch_data(pointer, &size)
        return size
    }

    /// Writes above which `clear` frees the memory rather than keeping it for reuse.
    static let keptBytes = 4 << 20

    /// Empties it for reuse. RocksDB's clear keeps the buffer's capacity, so a batch that held a
    /// cycle's states (tens of MB) is replaced by a new one instead: otherwise the largest cycle's
    /// size stayed resident for the life of the process.
    public func clear() {
        if byteSize > Self.keptBytes, let fresh = rocksdb_writebatch_create() {
            rocksdb_writebatch_destroy(pointer)
            pointer = fresh
        } else {
            rocksdb_writebatch_clear(pointer)
        }
    }

    deinit { rocksdb_writebatch_destroy(pointer) }
}
