// RocksDB's write batch: its size accounted record by record, room made up front, and a large one
// let go of when emptied.
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
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("userrep-batch-\(UUID().uuidString)").path
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
}
