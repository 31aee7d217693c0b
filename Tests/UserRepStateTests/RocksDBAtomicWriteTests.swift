// RocksDB's write batch: its size accounted record by record, room made up front, and a large one
// let go of when emptied.
import CRocksDB
import Foundation
import Testing
import UserRepState

@Suite struct RocksDBAtomicWriteTests {
    func bytes(_ n: Int, _ fill: UInt8) -> [UInt8] { [UInt8](repeating: fill, count: n) }

    @Test func recordSizeIsWhatEachPutOrDeleteAdds() throws {
        let batch = try RocksDBAtomicWrite()
        var expected = batch.byteSize
        // Lengths on each side of the varint steps (128, 16,384, 2,097,152).
        for (k, v) in [(1, 0), (5, 127), (20, 128), (130, 16_383), (127, 16_384), (3, 2_097_152)] {
            batch.put(bytes(k, 1), bytes(v, 2))
            expected += RocksDBAtomicWrite.recordSize(key: k, value: v)
            #expect(batch.byteSize == expected, "put of a \(k)-byte key and a \(v)-byte value")
        }
        batch.delete(bytes(200, 3))
        expected += RocksDBAtomicWrite.recordSize(key: 200, value: nil)
        #expect(batch.byteSize == expected)
        // Room is made only in an empty batch: this one keeps its writes.
        batch.reserve(16 << 20)
        #expect(batch.count == 7 && batch.byteSize == expected)
    }

    @Test func aReservedBatchStartsEmptyAndWritesWhatIsPutInIt() throws {
        let dir = scratchPath("batch")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let db = try RocksDB(path: dir)
        let batch = try RocksDBAtomicWrite()
        let empty = batch.byteSize
        batch.reserve(8 << 20)
        #expect(batch.count == 0 && batch.byteSize == empty)
        // More than the room made, so the buffer also grows past it.
        for i in 0..<3_000 { batch.put(Array("k\(i)".utf8), bytes(4_000, UInt8(i % 251))) }
        try db.write(batch, durability: .unlogged)
        #expect(try db.get(Array("k0".utf8)) == bytes(4_000, 0))
        #expect(try db.get(Array("k2999".utf8)) == bytes(4_000, UInt8(2_999 % 251)))
        // Emptied past the size it keeps: a new, empty batch that works as before.
        batch.clear()
        #expect(batch.count == 0 && batch.byteSize == empty)
        batch.put(Array("after".utf8), [7])
        try db.write(batch, durability: .unlogged)
        #expect(try db.get(Array("after".utf8)) == [7])
    }

    /// Writes and multi-gets turn RocksDB's per-thread perf counters off on their thread (by
    /// default it counts every key comparison there, a thread-local lookup each): a batch of
    /// 2,000 puts counts no comparison, where a get with counting on counts some.
    @Test func writesAndMultiGetsLeaveRocksDBsPerfCountersOff() throws {
        let dir = scratchPath("perf")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let db = try RocksDB(path: dir, blockCacheMB: 1, writeBufferMB: 1)
        let context = try #require(rocksdb_perfcontext_create())
        defer { rocksdb_perfcontext_destroy(context) }
        let comparisons = { rocksdb_perfcontext_metric(context, Int32(rocksdb_user_key_comparison_count)) }
        let batch = try RocksDBAtomicWrite()
        for i in 0..<2_000 { batch.put(Array("k\(i)".utf8), bytes(20, UInt8(i % 251))) }
        // RocksDB's default on a new thread.
        rocksdb_set_perf_level(Int32(rocksdb_enable_count))
        rocksdb_perfcontext_reset(context)
        try db.write(batch, durability: .unlogged)
        #expect(comparisons() == 0, "the write counted comparisons")
        rocksdb_set_perf_level(Int32(rocksdb_enable_count))
        rocksdb_perfcontext_reset(context)
        #expect(try db.multiGet((0..<100).map { Array("k\($0 * 7)".utf8) }).allSatisfy { $0 != nil })
        #expect(comparisons() == 0, "the multi-get counted comparisons")
        // The control: with counting on, a lookup in the memtable's skip list counts its comparisons.
        rocksdb_set_perf_level(Int32(rocksdb_enable_count))
        rocksdb_perfcontext_reset(context)
        #expect(try db.get(Array("k777".utf8)) != nil)
        #expect(comparisons() > 0)
    }

    /// A multi-get answers in the order of the keys asked (not key order), nil for absent keys,
    /// empty for empty values, as one get per key does, from the memtable and from flushed files.
    @Test func multiGetAnswersInTheOrderAskedAsGetsDo() throws {
        let dir = scratchPath("multiget")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let db = try RocksDB(path: dir, blockCacheMB: 1, writeBufferMB: 1)
        let batch = try RocksDBAtomicWrite()
        for i in 0..<2_000 { batch.put(Array("k\(i)".utf8), i % 7 == 0 ? [] : bytes(300, UInt8(i % 251))) }
        try db.write(batch, durability: .synced)
        try db.flush()
        batch.clear()
        for i in stride(from: 0, to: 2_000, by: 3) { batch.put(Array("k\(i)".utf8), bytes(50, UInt8((i + 1) % 251))) }
        try db.write(batch, durability: .synced)
        var rng = SystemRandomNumberGenerator()
        let asked = ((0..<2_500).map { Array("k\($0)".utf8) } + [Array("k".utf8), []]).shuffled(using: &rng)
        let answers = try db.multiGet(asked)
        #expect(answers.count == asked.count)
        #expect(try asked.map { try db.get($0) } == answers)
        #expect(answers.compactMap { $0 }.count == 2_000 && answers.contains([]))
    }

    @Test func aFullMemtableIsFlushedWithoutWaitingForTheNextWrite() throws {
        let dir = scratchPath("flush")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let db = try RocksDB(path: dir, blockCacheMB: 1, writeBufferMB: 1)
        func tableBytes() -> Int { db.intProperty("rocksdb.total-sst-files-size") ?? -1 }
        func write(_ keys: Range<Int>) throws {
            let batch = try RocksDBAtomicWrite()
            for i in keys { batch.put(Array("k\(i)".utf8), bytes(1_000, UInt8(i % 251))) }
            try db.write(batch, durability: .unlogged)
        }
        // Half a memtable: not full, nothing flushed.
        try write(0..<500)
        try db.flushIfFull()
        #expect(db.intProperty("rocksdb.num-immutable-mem-table") == 0)
        #expect((db.intProperty("rocksdb.cur-size-active-mem-table") ?? 0) > 500_000)
        #expect(tableBytes() == 0)
        // Past its size in one write (as a cycle's states land): flushed with no write after it.
        try write(500..<2_000)
        try db.flushIfFull()
        let deadline = Date().addingTimeInterval(30)
        while tableBytes() < 1_000_000 && Date() < deadline { usleep(10_000) }
        #expect(tableBytes() >= 1_000_000, "the full memtable is written to a table file")
        #expect((db.intProperty("rocksdb.cur-size-active-mem-table") ?? .max) < 500_000)
        #expect(try db.get(Array("k1999".utf8)) == bytes(1_000, UInt8(1_999 % 251)))
    }
}
