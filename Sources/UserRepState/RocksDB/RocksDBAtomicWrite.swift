// Owns a RocksDB WriteBatch (RocksDB's name): puts and deletes applied atomically together.
import CRocksDB

/// A set of puts and deletes applied atomically by `RocksDB.write`.
public final class RocksDBAtomicWrite {
    let pointer: OpaquePointer

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

    /// Number of operations queued.
    public var count: Int { Int(rocksdb_writebatch_count(pointer)) }

    /// Empties it for reuse.
    public func clear() { rocksdb_writebatch_clear(pointer) }

    deinit { rocksdb_writebatch_destroy(pointer) }
}
