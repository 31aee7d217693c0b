// Per-partition Int64 records under a key prefix (offsets, checkpoints), as both stores write them.

/// Keys `prefix` + big-endian partition (so a scan visits partitions in order), values a
/// little-endian Int64: the layout of the state store's offsets and checkpoints and of the
/// track store's offsets.
enum PartitionValues {
    /// The key of `partition` under `prefix`.
    static func key(_ prefix: [UInt8], _ partition: Int32) -> [UInt8] {
        var key = prefix
        withUnsafeBytes(of: partition.bigEndian) { key.append(contentsOf: $0) }
        return key
    }

    /// Stages `value` at `key`.
    static func put(_ value: Int64, key: [UInt8], into writes: RocksDBAtomicWrite) {
        withUnsafeBytes(of: value.littleEndian) { v in key.withUnsafeBytes { k in writes.put(k, v) } }
    }

    /// A stored value, nil unless it is 8 bytes.
    static func decode(_ value: UnsafeRawBufferPointer) -> Int64? {
        value.count == 8 ? Int64(littleEndian: value.loadUnaligned(as: Int64.self)) : nil
    }

    /// Every partition's value under `prefix`; keys of another length are skipped.
    static func scan(_ db: RocksDB, prefix: [UInt8]) throws -> [Int32: Int64] {
        var result: [Int32: Int64] = [:]
        try db.scan(prefix: prefix) { key, value in
            guard key.count == prefix.count + 4, let v = decode(value) else { return true }
            result[Int32(bigEndian: key.loadUnaligned(fromByteOffset: prefix.count, as: Int32.self))] = v
            return true
        }
        return result
    }
}
