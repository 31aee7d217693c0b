// The RocksDB state store and the user-state codec, on a real RocksDB in a temp directory.
import Foundation
import Testing
import UserRepModel
import UserRepState

@Suite struct StateStoreTests {
    func sampleState(width: Int, listens: Int, seed: UInt64) -> UserState {
        var rng = SplitMix64(seed: seed)
        var s = UserState(width: width)
        for i in 0..<listens {
            let e = (0..<width).map { _ in rng.nextGaussian() }
            e.withUnsafeBufferPointer {
                s.applyListen(
                    timeMs: 1_780_000_000_000 + Int64(i) * 3_600_000 * Int64(1 + rng.next() % 30), vector: $0,
                    country: i % 2 == 0 ? [83, 69] : nil)
            }
            if i == 5 {
                s.applyOnboarding(timeMs: 1_780_000_000_000, artists: [[97]], languages: [[101, 110], [115, 118]], country: nil)
            }
        }
        return s
    }

    @Test func codecRoundTripsAndRejectsCorruption() throws {
        let state = sampleState(width: 6, listens: 200, seed: 1)
        let bytes = UserStateCodec.encode(state)
        #expect(try bytes.withUnsafeBytes { try UserStateCodec.decode($0, expectedWidth: 6) } == state)
        #expect(throws: StateCorruption.self) { try bytes.withUnsafeBytes { try UserStateCodec.decode($0, expectedWidth: 7) } }
        for cut in [0, 1, 20, bytes.count - 1] {
            #expect(throws: StateCorruption.self) {
                try Array(bytes.prefix(cut)).withUnsafeBytes { try UserStateCodec.decode($0, expectedWidth: 6) }
            }
        }
        var badVersion = bytes
        badVersion[0] = 99
        #expect(throws: StateCorruption.self) { try badVersion.withUnsafeBytes { try UserStateCodec.decode($0, expectedWidth: 6) } }
    }

    @Test func stateAndOffsetsAreCommittedTogetherAndSurviveReopen() throws {
        let dir = scratchPath("state")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let a = UserKey(partition: 3, userID: Array("alice".utf8)), b = UserKey(partition: 1, userID: Array("bob".utf8))
        do {
            let store = try StateStore(directory: dir, embeddingBatchID: "e1", width: 4)
            #expect(try store.read([a, b]) == [nil, nil])
            try store.commit(
                users: [(a, sampleState(width: 4, listens: 10, seed: 2)), (b, sampleState(width: 4, listens: 3, seed: 3))],
                offsets: [SourceOffset(topic: "listens", partition: 3, next: 42), SourceOffset(topic: "listens", partition: 1, next: 7)])
        }
        let store = try StateStore(directory: dir, embeddingBatchID: "e1", width: 4)
        #expect(try store.read([a, b]) == [sampleState(width: 4, listens: 10, seed: 2), sampleState(width: 4, listens: 3, seed: 3)])
        #expect(try store.offsets(topic: "listens") == [3: 42, 1: 7])
        #expect(try store.offsets(topic: "other").isEmpty)
        var seen: [UserKey] = []
        try store.forEachUser { key, _ in
            seen.append(key); return true
        }
        #expect(seen == [b, a], "users iterate by partition then id")
    }

    @Test func storeOfAnotherEmbeddingBatchIsRefused() throws {
        let dir = scratchPath("state")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = try StateStore(directory: dir, embeddingBatchID: "e1", width: 4)
        #expect { try StateStore(directory: dir, embeddingBatchID: "e2", width: 4) } throws: {
            ($0 as? StateCorruption)?.message.contains("embedding batch 'e1' but the model needs 'e2'") == true
        }
        #expect(throws: StateCorruption.self) { try StateStore(directory: dir, embeddingBatchID: "e1", width: 5) }
    }

    @Test func changelogRecordsApplyInOrderSkipStaleOnesAndPartitionsResetAlone() throws {
        let dir = scratchPath("state")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try StateStore(directory: dir, embeddingBatchID: "e1", width: 4)
        let alice = Array("alice".utf8), bob = Array("bob".utf8)
        func state(listens: Int, offset: Int64) -> UserState {
            var s = sampleState(width: 4, listens: listens, seed: 9)
            s.markApplied(offset: offset, lane: .listens)
            return s
        }
        #expect(try store.changelogCheckpoint(partition: 2) == nil)
        // alice at offset 10, then at 20 (newer), then a zombie's record at 15: the newest stays.
        let stale = try store.applyChangelog(
            partition: 2,
            records: [
                (alice, UserStateCodec.encode(state(listens: 3, offset: 10))),
                (alice, UserStateCodec.encode(state(listens: 5, offset: 20))),
                (bob, UserStateCodec.encode(state(listens: 2, offset: 12))),
            ], checkpoint: 3)
        #expect(stale == 0)
        #expect(
            try store.applyChangelog(partition: 2, records: [(alice, UserStateCodec.encode(state(listens: 4, offset: 15)))], checkpoint: 4)
                == 1)
        let a = UserKey(partition: 2, userID: alice), b = UserKey(partition: 2, userID: bob)
        #expect(try store.read([a, b]) == [state(listens: 5, offset: 20), state(listens: 2, offset: 12)])
        #expect(try store.changelogCheckpoint(partition: 2) == 4)
        // A tombstone deletes; a corrupt record is refused with the user named.
        try store.applyChangelog(partition: 2, records: [(bob, nil)], checkpoint: 5)
        #expect(try store.read([b]) == [nil])
        #expect { try store.applyChangelog(partition: 2, records: [(bob, [3, 1, 2])], checkpoint: 6) } throws: {
            ($0 as? StateCorruption)?.message.contains("user 'bob' in partition 2") == true
        }
        // Resetting partition 2 leaves partition 3 alone.
        let c = UserKey(partition: 3, userID: alice)
        try store.commit(users: [(c, state(listens: 1, offset: 1))], offsets: [SourceOffset(topic: "listens", partition: 3, next: 2)])
        try store.resetPartition(2, topics: ["listens"], checkpoint: 0)
        #expect(try store.read([a, c]) == [nil, state(listens: 1, offset: 1)])
        #expect(try store.changelogCheckpoint(partition: 2) == 0)
        #expect(try store.offsets(topic: "listens") == [3: 2])
    }

    @Test func committedStatesAreServedFromTheCache() throws {
        let dir = scratchPath("state")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try StateStore(directory: dir, embeddingBatchID: "e1", width: 4, cacheCapacity: 3)
        let keys = (0..<5).map { UserKey(partition: 0, userID: Array("u\($0)".utf8)) }
        #expect(try store.read(keys) == [nil, nil, nil, nil, nil])
        #expect(store.cacheMisses == 5, "new users are looked up in RocksDB")
        try store.commit(users: [(keys[0], sampleState(width: 4, listens: 1, seed: 1))], offsets: [])
        _ = try store.read([keys[0]])
        #expect(store.cacheMisses == 5, "a committed state comes from the cache")
        // Past capacity some states leave the cache, but every load still sees the committed state.
        let states = (0..<5).map { sampleState(width: 4, listens: 2, seed: UInt64(10 + $0)) }
        for (key, state) in zip(keys, states) { try store.commit(users: [(key, state)], offsets: []) }
        #expect(try store.read(keys) == states.map { Optional($0) })
        #expect(store.cacheMisses > 5, "evicted states were read back from RocksDB")
    }

    @Test func theCacheStaysWithinItsByteBoundAndEvictedStatesAreReadBack() throws {
        let dir = scratchPath("state")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let states = (0..<200).map { sampleState(width: 4, listens: 1 + $0 % 7, seed: UInt64($0)) }
        let keys = (0..<200).map { UserKey(partition: Int32($0 % 3), userID: Array("u\($0)".utf8)) }
        let budget = states.prefix(40).reduce(0) { $0 + $1.memoryBytes }
        let store = try StateStore(directory: dir, embeddingBatchID: "e1", width: 4, cacheBytes: budget)
        for start in stride(from: 0, to: 200, by: 25) {
            let chunk = start..<(start + 25)
            _ = try store.checkOut(Array(keys[chunk]))
            try store.commit(users: chunk.map { (keys[$0], states[$0]) }, offsets: [])
            #expect(store.cachedBytes <= budget, "cache at \(store.cachedBytes) bytes of \(budget)")
            #expect(store.cachedBytes > 0)
        }
        // The bookkeeping equals a recount, and every state is still there, cached or not.
        let all = try store.read(keys)
        #expect(all == states.map { Optional($0) })
        #expect(store.cacheMisses > 0, "most states were read back from RocksDB")
        store.evictCache(partitions: [0, 1, 2])
        #expect(store.cachedBytes == 0)
        // A budget of zero caches nothing and serves everything from RocksDB.
        let other = scratchPath("state")
        defer { try? FileManager.default.removeItem(atPath: other) }
        let none = try StateStore(directory: other, embeddingBatchID: "e1", width: 4, cacheBytes: 0)
        try none.commit(users: [(keys[0], states[0])], offsets: [])
        let back = try none.read([keys[0]])
        #expect(none.cachedBytes == 0 && back == [states[0]])
    }

    @Test func cyclesOfCheckOutAndCommitAtFullCapacityKeepEveryStateCached() throws {
        let dir = scratchPath("state")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try StateStore(directory: dir, embeddingBatchID: "e1", width: 4, cacheCapacity: 10)
        let keys = (0..<10).map { UserKey(partition: Int32($0 % 2), userID: Array("u\($0)".utf8)) }
        var states = (0..<10).map { sampleState(width: 4, listens: 3, seed: UInt64($0)) }
        try store.commit(users: Array(zip(keys, states)), offsets: [])
        let bytes = store.cachedBytes
        let misses = store.cacheMisses
        for cycle in 0..<6 {
            // Half the users per cycle: a checked-out user's emptied entry is not counted against
            // the capacity beside the half still held.
            let half = Array(stride(from: cycle % 2, to: 10, by: 2))
            let taken = try store.checkOut(half.map { keys[$0] })
            #expect(taken == half.map { Optional(states[$0]) }, "cycle \(cycle)")
            #expect(store.cachedBytes == bytes - half.reduce(0) { $0 + states[$1].memoryBytes }, "checked-out states leave the byte count")
            for i in half { states[i].markApplied(offset: Int64(cycle), lane: .listens) }
            try store.commit(users: half.map { (keys[$0], states[$0]) }, offsets: [])
            #expect(store.cachedBytes == bytes)
        }
        #expect(try store.read(keys) == states.map { Optional($0) })
        #expect(store.cacheMisses == misses, "ten users in a cache of ten are never evicted")
        // One user more: the cache evicts, and every state is still read back whole.
        let extra = UserKey(partition: 0, userID: Array("u10".utf8))
        let extraState = sampleState(width: 4, listens: 1, seed: 99)
        _ = try store.checkOut(keys + [extra])
        try store.commit(users: Array(zip(keys + [extra], states + [extraState])), offsets: [])
        #expect(try store.read(keys + [extra]) == (states + [extraState]).map { Optional($0) })
        #expect(store.cacheMisses > misses)
        #expect(store.cachedBytes <= (states + [extraState]).reduce(0) { $0 + $1.memoryBytes })
    }

    @Test func takenStatesLeaveTheCacheAndAnUncommittedChangeIsNeverSeen() throws {
        let dir = scratchPath("state")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try StateStore(directory: dir, embeddingBatchID: "e1", width: 4)
        let key = UserKey(partition: 1, userID: Array("u".utf8))
        let stored = sampleState(width: 4, listens: 2, seed: 1)
        try store.commit(users: [(key, stored)], offsets: [])
        // A cycle takes the state, changes it, and fails before its commit.
        let misses = store.cacheMisses
        var taken = try #require(try store.checkOut([key]).first ?? nil)
        #expect(taken == stored && store.cacheMisses == misses, "the committed state came from the cache")
        taken.markApplied(offset: 99, lane: .listens)
        // The next cycle reads the stored state from RocksDB, without the uncommitted change.
        #expect(try store.checkOut([key]) == [stored])
        #expect(store.cacheMisses == misses + 1)
        // Committed again, the state is served from the cache once more.
        try store.commit(users: [(key, taken)], offsets: [])
        #expect(try store.read([key]) == [taken] && store.cacheMisses == misses + 1)
    }

    @Test func appliedOffsetsRoundTripAndMarkReplays() throws {
        var s = sampleState(width: 4, listens: 3, seed: 4)
        #expect(!s.hasApplied(offset: 0, lane: .listens))
        s.markApplied(offset: 41, lane: .listens)
        s.markApplied(offset: 7, lane: .onboarding)
        #expect(
            s.hasApplied(offset: 41, lane: .listens) && !s.hasApplied(offset: 42, lane: .listens)
                && s.hasApplied(offset: 7, lane: .onboarding))
        let bytes = UserStateCodec.encode(s)
        #expect(try bytes.withUnsafeBytes { try UserStateCodec.decode($0, expectedWidth: 4) }.appliedOffsets == SIMD2(41, 7))
    }
}

@Suite struct ChangelogOffsetTests {
    /// A transactional changelog's restored heads move each lane's stored next offset of their
    /// partition forward to one past the newest applied offset they reflect; never back, never
    /// for a stale head, never another partition's, and not at all without input topics.
    @Test func restoredHeadsMoveTheStoredOffsetsForwardOnlyWhenAsked() throws {
        let dir = scratchPath("state")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try StateStore(directory: dir, embeddingBatchID: "e1", width: 4)
        func head(listens: Int64?, onboarding: Int64?) -> [UInt8] {
            var s = UserState(width: 4)
            [Float(1), 2, 3, 4].withUnsafeBufferPointer { s.applyListen(timeMs: 1_780_000_000_000, vector: $0) }
            if let listens { s.markApplied(offset: listens, lane: .listens) }
            if let onboarding { s.markApplied(offset: onboarding, lane: .onboarding) }
            return UserStateCodec.encode(s)
        }
        let topics = ["listens", "onboarding"]
        try store.commit(users: [], offsets: [SourceOffset(topic: "listens", partition: 1, next: 30)])
        // Without input topics (a changelog not written with the offsets), nothing moves.
        try store.applyChangelog(
            partition: 1, records: [ChangelogStateRecord(userID: Array("a".utf8), value: head(listens: 90, onboarding: 4))],
            checkpoint: 1)
        #expect(try store.offsets(topic: "listens") == [1: 30] && store.offsets(topic: "onboarding").isEmpty)
        // With them: the newest of the restored heads, per lane; a lane no head reflects stays unset.
        try store.applyChangelog(
            partition: 1,
            records: [
                ChangelogStateRecord(userID: Array("b".utf8), value: head(listens: 41, onboarding: nil)),
                ChangelogStateRecord(userID: Array("c".utf8), value: head(listens: 57, onboarding: nil)),
                ChangelogStateRecord(userID: Array("b".utf8), tile: TileID(start: 20_600, level: .day, count: 1), value: nil),
            ], checkpoint: 4, advancingOffsetsOf: topics)
        #expect(try store.offsets(topic: "listens") == [1: 58] && store.offsets(topic: "onboarding").isEmpty)
        // Never back (an older head), and a stale head (behind the user's state) does not count.
        try store.applyChangelog(
            partition: 1,
            records: [
                ChangelogStateRecord(userID: Array("d".utf8), value: head(listens: 12, onboarding: 8)),
                ChangelogStateRecord(userID: Array("a".utf8), value: head(listens: 200, onboarding: 2)),
            ], checkpoint: 6, advancingOffsetsOf: topics)
        #expect(try store.offsets(topic: "listens") == [1: 58] && store.offsets(topic: "onboarding") == [1: 9])
        // Another partition's offsets are its own.
        try store.applyChangelog(
            partition: 0, records: [ChangelogStateRecord(userID: Array("e".utf8), value: head(listens: 3, onboarding: nil))],
            checkpoint: 1, advancingOffsetsOf: topics)
        #expect(try store.offsets(topic: "listens") == [1: 58, 0: 4])
    }
}

extension StateStore {
    /// Serializes `users` (against the tiles stored for them) and commits them with `offsets`.
    func commit(users: [(UserKey, UserState)], offsets: [SourceOffset]) throws {
        var encoded = EncodedStates()
        for ((_, state), previous) in zip(users, storedTiles(users.map(\.0))) { encoded.append(state, previous: previous) }
        try commit(users: users.map(\.0), states: users.map(\.1), encoded: encoded, offsets: offsets)
    }

    /// Applies head (or whole-state) records given as (user id, value or nil).
    @discardableResult
    func applyChangelog(
        partition: Int32, records: [(userID: [UInt8], state: [UInt8]?)], timersFired: [[UInt8]: Int64] = [:], checkpoint: Int64
    ) throws -> Int {
        try applyChangelog(
            partition: partition, records: records.map { ChangelogStateRecord(userID: $0.userID, value: $0.state) },
            timersFired: timersFired, checkpoint: checkpoint)
    }
}

@Suite struct StateCodecCorruptionTests {
    @Test func aStateWithNonFiniteSumsIsRefusedAsCorrupt() throws {
        var state = UserState(width: 2)
        [Float(1), 2].withUnsafeBufferPointer { state.applyListen(timeMs: 1_780_000_000_000, vector: $0) }
        var bytes = UserStateCodec.encode(state)
        // The sums are the last floats of the encoding: make the last one NaN (found by the fuzzer).
        let nan = Float.nan.bitPattern.littleEndian
        withUnsafeBytes(of: nan) { bytes.replaceSubrange((bytes.count - 4)..., with: $0) }
        #expect(throws: StateCorruption.self) { try bytes.withUnsafeBytes { try UserStateCodec.decode($0, expectedWidth: 2) } }
    }
}
