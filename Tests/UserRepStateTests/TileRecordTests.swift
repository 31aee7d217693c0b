// States stored as a head and one record per tile: against whole states kept in memory, through
// reopens, restores, compaction, crashed cycles, zombies and states of earlier builds.
import Foundation
import Testing
import UserRepModel
import UserRepState

@Suite struct TileRecordTests {
    let width = 5
    let t0: Int64 = 1_780_000_000_000
    let day: Int64 = 86_400_000


    func store(_ dir: String) throws -> StateStore { try StateStore(directory: dir, embeddingBatchID: "e1", width: width) }

    /// A listen's vector, the same for the same seed.
    func vector(_ seed: UInt64) -> [Float] {
        var rng = SplitMix64(seed: seed)
        return (0..<width).map { _ in Float(rng.nextGaussian()) }
    }

    func listen(_ state: inout UserState, at timeMs: Int64, seed: UInt64, offset: Int64) {
        vector(seed).withUnsafeBufferPointer { state.applyListen(timeMs: timeMs, vector: $0) }
        state.markApplied(offset: offset, lane: .listens)
    }

    /// A cycle as the worker runs it: check out, apply, encode against the stored tiles, commit.
    /// Returns its changelog records in the order the worker produces them.
    @discardableResult
    func cycle(_ store: StateStore, _ changes: [UserKey: (inout UserState) -> Void]) throws -> [(UserKey, ChangelogStateRecord)] {
        let users = changes.keys.sorted { $0.userIDString < $1.userIDString }
        var states = try store.checkOut(users).map { $0 ?? UserState(width: width) }
        for i in users.indices { changes[users[i]]?(&states[i]) }
        var encoded = EncodedStates()
        encoded.encode(states, previous: store.storedTiles(users), threads: 2)
        try store.commit(users: users, states: states, encoded: encoded, offsets: [])
        return records(users, encoded)
    }

    func records(_ users: [UserKey], _ encoded: EncodedStates) -> [(UserKey, ChangelogStateRecord)] {
        var out: [(UserKey, ChangelogStateRecord)] = []
        for i in users.indices {
            encoded.forEachRecord(i) { tile, value in
                out.append((users[i], ChangelogStateRecord(userID: users[i].userID, tile: tile, value: value.map { Array($0) })))
            }
        }
        return out
    }

    /// What log compaction leaves: the newest record of each key, tombstones dropped.
    func compacted(_ log: [(UserKey, ChangelogStateRecord)]) -> [(UserKey, ChangelogStateRecord)] {
        var newest: [String: Int] = [:]
        func key(_ r: (UserKey, ChangelogStateRecord)) -> String { "\(r.0.partition)/\(r.1.userID)/\(String(describing: r.1.tile))" }
        for (i, r) in log.enumerated() { newest[key(r)] = i }
        return log.enumerated().filter { newest[key($0.element)] == $0.offset && $0.element.1.value != nil }.map(\.element)
    }

    /// A fresh store restored from `log` (partition 0), in batches of `batch` records.
    func restored(_ log: [(UserKey, ChangelogStateRecord)], batch: Int = 7) throws -> (StateStore, String) {
        let dir = scratchPath("tiles")
        let s = try store(dir)
        var at = 0
        while at < log.count {
            let part = log[at..<min(at + batch, log.count)].map(\.1)
            try s.applyChangelog(partition: 0, records: part, checkpoint: Int64(at + part.count))
            at += part.count
        }
        return (s, dir)
    }

    func all(_ store: StateStore) throws -> [UserKey: UserState] {
        var out: [UserKey: UserState] = [:]
        try store.forEachUser { key, state in
            out[key] = state
            return true
        }
        return out
    }

    @Test func perTileStatesEqualWholeStatesThroughReopensRestoresAndCompaction() throws {
        let dir = scratchPath("tiles")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let users = (0..<6).map { UserKey(partition: 0, userID: Array("user-\($0)".utf8)) }
        var oracle: [UserKey: UserState] = [:]
        var log: [(UserKey, ChangelogStateRecord)] = []
        var rng = SplitMix64(seed: 7)
        var offset: Int64 = 0
        var s: StateStore? = try store(dir)
        // 160 cycles over 200 days: tiles are added to, merged into coarser ones and expire.
        for c in 0..<160 {
            var changes: [UserKey: (inout UserState) -> Void] = [:]
            let now = t0 + Int64(c) * day * 5 / 4
            for user in users where rng.next() % 3 != 0 {
                let listens = (0..<Int(1 + rng.next() % 3)).map { _ in (now - Int64(rng.next() % 3) * day, rng.next()) }
                offset += 1
                let o = offset
                let apply: (inout UserState) -> Void = { state in
                    for (time, seed) in listens { listen(&state, at: time, seed: seed, offset: o) }
                }
                changes[user] = apply
                var expected = oracle[user] ?? UserState(width: width)
                apply(&expected)
                oracle[user] = expected
            }
            log += try cycle(try #require(s), changes)
            if c % 40 == 39 {
                s = nil
                s = try store(dir)
                #expect(try all(try #require(s)) == oracle, "after reopening at cycle \(c)")
            }
        }
        let live = try #require(s)
        #expect(try all(live) == oracle)
        #expect(try live.read(users).compactMap { $0 } == users.compactMap { oracle[$0] })
        // No tile record is left that no head refers to.
        #expect(try live.tileRecordCount(partition: 0) == oracle.values.reduce(0) { $0 + $1.tiles.tileCount })
        // A restore from the whole log, and from what compaction keeps of it, rebuilds the same states.
        for (name, records) in [("log", log), ("compacted log", compacted(log))] {
            let (r, rdir) = try restored(records)
            defer { try? FileManager.default.removeItem(atPath: rdir) }
            #expect(try all(r) == oracle, "restored from the \(name)")
            #expect(try r.tileRecordCount(partition: 0) == oracle.values.reduce(0) { $0 + $1.tiles.tileCount })
        }
        #expect(compacted(log).count < log.count / 3)
    }

    @Test func aListenOnTheSameDayWritesOneTileAndDeletesOne() throws {
        let dir = scratchPath("tiles")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let s = try store(dir)
        let alice = UserKey(partition: 0, userID: Array("alice".utf8))
        try cycle(s, [alice: { state in for d in 0..<20 { listen(&state, at: t0 + Int64(d) * day, seed: UInt64(d), offset: Int64(d)) } }])
        let tiles = try #require(try s.read([alice])[0]).tiles.tileCount
        #expect(tiles > 3)
        let written = s.stateBytesWritten
        let records = try cycle(s, [alice: { state in listen(&state, at: t0 + 19 * day + 1_000, seed: 99, offset: 20) }])
        // The newest day's tile (with a new count), the head, and the old tile's tombstone.
        #expect(records.map { $0.1.tile == nil ? "head" : ($0.1.value == nil ? "tombstone" : "tile") } == ["tile", "head", "tombstone"])
        let head = try #require(records.first { $0.1.tile == nil }?.1.value)
        #expect(head.count == UserStateCodec.headSize(try #require(try s.read([alice])[0])))
        let bytes = s.stateBytesWritten - written
        #expect(bytes < head.count + 4 * width + 3 * (alice.userID.count + 5 + TileRecord.suffixSize))
        #expect(try s.tileRecordCount(partition: 0) == tiles)
    }

    @Test func aCrashedCycleAndAZombieLeaveTheRestoredStatesConsistent() throws {
        let dir = scratchPath("tiles")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let bob = UserKey(partition: 0, userID: Array("bob".utf8))
        // Twelve listens over four days: a state is the same whatever cycles they came in.
        let events: [(Int64, UInt64)] = (0..<12).map { (t0 + Int64($0) * day / 3, UInt64($0)) }
        func apply(_ range: Range<Int>) -> (inout UserState) -> Void {
            { state in for i in range { listen(&state, at: events[i].0, seed: events[i].1, offset: Int64(i)) } }
        }
        func after(_ n: Int) -> UserState {
            var s = UserState(width: width)
            apply(0..<n)(&s)
            return s
        }
        func restoredState(_ log: [(UserKey, ChangelogStateRecord)], batch: Int) throws -> [UserState?] {
            var out: [UserState?] = []
            for records in [log, compacted(log)] {
                let (r, rdir) = try restored(records, batch: batch)
                defer { try? FileManager.default.removeItem(atPath: rdir) }
                out.append(try r.read([bob])[0])
            }
            return out
        }
        let s = try store(dir)
        let first = try cycle(s, [bob: apply(0..<4)])
        var log = first
        // A cycle applies events 4..<9 and dies after producing its tiles, before its head.
        do {
            let crashDir = scratchPath("tiles")
            defer { try? FileManager.default.removeItem(atPath: crashDir) }
            let crashed = try store(crashDir)
            try crashed.applyChangelog(partition: 0, records: log.map(\.1), checkpoint: Int64(log.count))
            let tiles = try cycle(crashed, [bob: apply(4..<9)]).filter { $0.1.tile != nil && $0.1.value != nil }
            #expect(!tiles.isEmpty)
            log += tiles
        }
        // The restart redoes it in smaller cycles: 4..<6 first.
        log += try cycle(s, [bob: apply(4..<6)])
        #expect(try restoredState(log, batch: 3) == [after(6), after(6)])
        // A zombie that still holds the state after 0..<4 applies 4..<8 and writes it after the
        // owner's cycle 6..<12: its head is behind and skipped, its tiles and tombstones harm nothing.
        let zombieDir = scratchPath("tiles")
        defer { try? FileManager.default.removeItem(atPath: zombieDir) }
        let zombie = try store(zombieDir)
        try zombie.applyChangelog(partition: 0, records: first.map(\.1), checkpoint: Int64(first.count))
        #expect(try zombie.read([bob])[0] == after(4))
        log += try cycle(s, [bob: apply(6..<12)])
        #expect(try s.read([bob])[0] == after(12))
        log += try cycle(zombie, [bob: apply(4..<8)])
        // Compaction keeps each key's newest record, which for the head is now the zombie's: the
        // restore then holds the zombie's state, consistent with its tiles (as with whole states,
        // only fencing, `--transactional-id`, keeps a zombie's writes out of a compacted log).
        #expect(try restoredState(log, batch: 4) == [after(12), after(8)])
    }

    @Test func aWholeStateOfAnEarlierBuildIsReadAndRewrittenAsTiles() throws {
        let dir = scratchPath("tiles")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let s = try store(dir)
        let carol = UserKey(partition: 0, userID: Array("carol".utf8))
        var old = UserState(width: width)
        for d in 0..<30 { listen(&old, at: t0 + Int64(d) * day, seed: UInt64(d), offset: Int64(d)) }
        // A version-3 record, as earlier builds wrote to the changelog and the store.
        try s.applyChangelog(partition: 0, records: [ChangelogStateRecord(userID: carol.userID, value: UserStateCodec.encode(old))], checkpoint: 1)
        #expect(try s.read([carol])[0] == old)
        #expect(try s.tileRecordCount(partition: 0) == 0)
        let records = try cycle(s, [carol: { state in listen(&state, at: t0 + 29 * day + 5, seed: 77, offset: 30) }])
        var new = old
        listen(&new, at: t0 + 29 * day + 5, seed: 77, offset: 30)
        // Every tile is written (the store held none), nothing is deleted.
        #expect(records.filter { $0.1.tile != nil }.count == new.tiles.tileCount && records.allSatisfy { $0.1.value != nil })
        s.evictCache(partitions: [0])
        #expect(try s.read([carol])[0] == new)
        #expect(try s.tileRecordCount(partition: 0) == new.tiles.tileCount)
        // The first rewrite's records alone rebuild the state from the changelog.
        let copyDir = scratchPath("tiles")
        defer { try? FileManager.default.removeItem(atPath: copyDir) }
        let fromChangelog = try store(copyDir)
        try fromChangelog.applyChangelog(partition: 0, records: records.map(\.1), checkpoint: 1)
        #expect(try fromChangelog.read([carol])[0] == new)
    }

    @Test func aHeadWithoutItsTileOrABadTileRecordIsRefusedByName() throws {
        let dir = scratchPath("tiles")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let s = try store(dir)
        let dave = UserKey(partition: 0, userID: Array("dave".utf8))
        var state = UserState(width: width)
        listen(&state, at: t0, seed: 1, offset: 0)
        try s.applyChangelog(partition: 0, records: [ChangelogStateRecord(userID: dave.userID, value: UserStateCodec.encodeHead(state))], checkpoint: 1)
        #expect { try s.read([dave]) } throws: { ($0 as? StateCorruption)?.message.contains("'dave'") == true && "\($0)".contains("lacks its tile") }
        let tile = try #require(state.tiles.tileIDs.first)
        #expect {
            try s.applyChangelog(partition: 0, records: [ChangelogStateRecord(userID: dave.userID, tile: tile, value: [1, 2, 3])], checkpoint: 2)
        } throws: { "\($0)".contains("'dave'") && "\($0)".contains("expected \(4 * width)") }
        let nan = [Float](repeating: .nan, count: width).withUnsafeBytes { Array($0) }
        #expect {
            try s.applyChangelog(partition: 0, records: [ChangelogStateRecord(userID: dave.userID, tile: tile, value: nan)], checkpoint: 2)
        } throws: { "\($0)".contains("non-finite") }
        let sums = state.tiles.sums.withUnsafeBytes { Array($0) }
        try s.applyChangelog(partition: 0, records: [ChangelogStateRecord(userID: dave.userID, tile: tile, value: sums)], checkpoint: 2)
        #expect(try s.read([dave])[0] == state)
    }

    @Test func tileKeysSplitBackIntoUserAndTile() throws {
        let id = TileID(start: -3, level: .week, count: 0xFF_FF)
        let key = TileRecord.key(Array("ü-1".utf8), id)
        let split = try key.withUnsafeBytes { try TileRecord.split($0) }
        #expect(split?.userKey == Array("ü-1".utf8) && split?.id == id)
        #expect(try Array("ü-1".utf8).withUnsafeBytes { try TileRecord.split($0) } == nil)
        #expect(throws: StateCorruption.self) { try (Array("x".utf8) + [0xFF, 1]).withUnsafeBytes { try TileRecord.split($0) } }
    }
}
