// A cycle's serialized states: a block of exactly their size, never written once shared, and
// RocksDB's write batch let go of after a large cycle.
import Foundation
import Testing
import UserRepModel
import UserRepState

@Suite struct EncodedStatesTests {
    let width = 168
    let t0: Int64 = 1_780_000_000_000
    let day: Int64 = 86_400_000

    /// A user with listens on `days` days (a tile each, about), the same for the same seed.
    func state(seed: UInt64, days: Int) -> UserState {
        var rng = SplitMix64(seed: seed)
        var state = UserState(width: width)
        for d in 0..<days {
            let v = (0..<width).map { _ in Float(rng.nextGaussian()) }
            v.withUnsafeBufferPointer { state.applyListen(timeMs: t0 + Int64(d) * day, vector: $0) }
        }
        return state
    }

    func head(_ encoded: EncodedStates, _ i: Int) -> [UInt8] { encoded.withHead(i) { Array($0) } }

    @Test func aCopyKeepsItsBytesWhenTheOriginalGrowsOrIsEncodedAgain() {
        var a = EncodedStates()
        a.append(state(seed: 1, days: 3))
        let firstHead = head(a, 0)
        let copy = a
        // Appending past the block's size, and into it: neither may write the copy's block.
        for seed in 2..<6 { a.append(state(seed: UInt64(seed), days: 2)) }
        a.encode([state(seed: 9, days: 4)], previous: nil, threads: 2)
        #expect(copy.count == 1 && head(copy, 0) == firstHead)
        var tiles: [[UInt8]] = []
        copy.forEachWrittenTile(0) { _, sums in tiles.append(Array(sums)) }
        #expect(tiles.count == 3 && tiles.allSatisfy { $0.count == 4 * width })
        #expect(a.count == 1 && head(a, 0) != firstHead)
        let sameBlock = ObjectIdentifier(a.bytesOwner) == ObjectIdentifier(copy.bytesOwner)
        #expect(!sameBlock)
    }

    @Test func encodeAllocatesExactlyTheBytesItWrites() throws {
        var encoded = EncodedStates()
        encoded.encode((0..<50).map { state(seed: UInt64($0), days: 1 + $0 % 4) }, previous: nil, threads: 2)
        let block = try #require(encoded.bytesOwner as? SerializedBytes)
        #expect(block.capacity == encoded.byteCount)
        #expect(encoded.byteCount > 50 * 4 * width)
    }

    @Test func aStoreKeepsWorkingAfterCyclesLargerThanTheBatchItKeeps() throws {
        let dir = scratchPath("encoded")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let users = (0..<2_000).map { UserKey(partition: Int32($0 % 3), userID: Array("user-\($0)".utf8)) }
        var expected: [UserState] = []
        // No cache: every check-out and read comes from RocksDB.
        let store = try StateStore(directory: dir, embeddingBatchID: "e1", width: width, cacheBytes: 0)
        // A large cycle (~6 MB of tiles: past the 4 MiB a kept batch may hold), then smaller ones.
        for round in 0..<3 {
            let changed = round < 2 ? users : Array(users.prefix(10))
            var states = try store.checkOut(changed).map { $0 ?? UserState(width: width) }
            for i in states.indices {
                var rng = SplitMix64(seed: UInt64(round * 10_000 + i))
                // The first round gives every user four tiles; the later ones one more each.
                for d in 0..<(round == 0 ? 4 : 1) {
                    let v = (0..<width).map { _ in Float(rng.nextGaussian()) }
                    v.withUnsafeBufferPointer { states[i].applyListen(timeMs: t0 + Int64(round * 5 + d) * day, vector: $0) }
                }
            }
            var encoded = EncodedStates()
            encoded.encode(states, previous: store.storedTiles(changed), threads: 2)
            if round == 0 { #expect(encoded.byteCount > 4 << 20) }
            try store.commit(users: changed, states: states, encoded: encoded, offsets: [])
            if round < 2 { expected = states } else { expected.replaceSubrange(0..<10, with: states) }
        }
        #expect(try store.read(users) == expected)
    }
}
