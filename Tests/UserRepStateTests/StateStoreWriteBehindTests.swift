// A commit's RocksDB write left in flight: what may read around it, what waits for it, and a failed one.
import Dispatch
import Foundation
import Testing
import UserRepModel

@testable import UserRepState

@Suite(.timeLimit(.minutes(1))) struct StateStoreWriteBehindTests {
    func state(listenAt time: Int64, value: Float) -> UserState {
        var s = UserState(width: 2)
        [value, 1].withUnsafeBufferPointer { s.applyListen(timeMs: time, vector: $0) }
        return s
    }

    /// Commits `users` as a cycle does (serialized against the tiles stored as of their check-out).
    func commitCycle(_ store: StateStore, _ users: [(UserKey, UserState)], timers: [TimerChange] = [], next: Int64) throws {
        var encoded = EncodedStates()
        encoded.encode(users.map(\.1), previous: store.storedTiles(users.map(\.0)), threads: 1)
        try store.commit(
            users: users.map(\.0), states: users.map(\.1), encoded: encoded,
            offsets: [SourceOffset(topic: "listens", partition: 0, next: next)], timers: timers)
    }

    /// A gate the write thread waits at, one pass per write.
    final class Gate: @unchecked Sendable {
        let passes = DispatchSemaphore(value: 0)
        var held = 0
        func hold(_ store: StateStore) {
            store.beforeEachWrite = { [passes] in passes.wait() }
        }
        /// Lets every write waiting at the gate through.
        func open() {
            while held > 0 {
                passes.signal()
                held -= 1
            }
        }
    }

    @Test func readsOfTheCommittedStatesAndTimersDoNotWaitForTheWrite() throws {
        let dir = scratchPath("behind")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try StateStore(directory: dir, embeddingBatchID: "e1", width: 2)
        let gate = Gate()
        gate.hold(store)
        let a = UserKey(partition: 0, userID: Array("a".utf8)), b = UserKey(partition: 0, userID: Array("b".utf8))
        let other = UserKey(partition: 0, userID: Array("new".utf8))
        let t0: Int64 = 1_780_000_000_000
        let sa = state(listenAt: t0, value: 1), sb = state(listenAt: t0 + 5, value: 2)
        try commitCycle(
            store, [(a, sa), (b, sb)], timers: [TimerChange(user: a, old: nil, new: t0 + 10), TimerChange(user: b, old: nil, new: t0 + 99)],
            next: 7)
        gate.held = 1
        // The write is held: RocksDB does not have it yet.
        #expect(try store.unsettled.get(a.storeKey) == nil)
        // The cycle's users come from the cache, a user the write does not hold from RocksDB, the
        // due timers from RocksDB and the write's timers, fired times from RocksDB: none waits.
        #expect(try store.read([a, other, b]) == [sa, nil, sb])
        #expect(try store.dueTimers(partition: 0, upTo: t0 + 50, limit: 10).map(\.user) == [a])
        #expect(try store.firedAsOf([a, b]) == [nil, nil])
        #expect(store.writesWaitedFor == 0)
        #expect(try store.unsettled.get(a.storeKey) == nil, "still held")
        gate.open()
        // Anything else waits for it: the offsets are the write's.
        #expect(try store.offsets(topic: "listens") == [0: 7])
        #expect(store.writesWaitedFor == 1)
        #expect(try store.unsettled.get(a.storeKey) != nil)
        #expect(try store.dueTimers(partition: 0, upTo: t0 + 50, limit: 10).map(\.user) == [a], "once written, not twice")
    }

    @Test func aReadOfAUserTheCacheLetGoWhileItsWriteIsInFlightWaitsForTheWrite() throws {
        let dir = scratchPath("behind")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // A cache of no bytes: every state is read from RocksDB.
        let store = try StateStore(directory: dir, embeddingBatchID: "e1", width: 2, cacheBytes: 0)
        let a = UserKey(partition: 0, userID: Array("a".utf8))
        let t0: Int64 = 1_780_000_000_000
        try commitCycle(store, [(a, state(listenAt: t0, value: 1))], next: 1)
        try store.settle()
        let gate = Gate()
        gate.hold(store)
        var newer = try #require(try store.checkOut([a])[0])
        [Float(3), 1].withUnsafeBufferPointer { newer.applyListen(timeMs: t0 + 1, vector: $0) }
        try commitCycle(store, [(a, newer)], next: 2)
        gate.held = 1
        let waited = store.writesWaitedFor
        let before = try store.unsettled.get(a.storeKey)
        #expect(before != nil)
        gate.open()
        // RocksDB held the older state a moment ago, and the cache holds none: the read waits.
        #expect(try store.read([a]) == [newer])
        #expect(store.writesWaitedFor == waited + 1)
        #expect(try store.unsettled.get(a.storeKey) != before)
    }

    @Test func aFailedWriteFailsEveryLaterCall() throws {
        struct DiskGone: Error {}
        let dir = scratchPath("behind")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try StateStore(directory: dir, embeddingBatchID: "e1", width: 2)
        store.beforeEachWrite = { throw DiskGone() }
        let a = UserKey(partition: 0, userID: Array("a".utf8))
        try commitCycle(store, [(a, state(listenAt: 1_780_000_000_000, value: 1))], next: 1)
        #expect(throws: DiskGone.self) { try store.offsets(topic: "listens") }
        #expect(throws: DiskGone.self) { try store.read([UserKey(partition: 0, userID: [1])]) }
        #expect(throws: DiskGone.self) { try store.dueTimers(partition: 0, upTo: .max, limit: 1) }
        store.beforeEachWrite = nil
        #expect(throws: DiskGone.self) { try commitCycle(store, [(a, state(listenAt: 1_780_000_000_001, value: 2))], next: 2) }
    }

    /// Due pages equal a brute-force scan of the live timers through cycle commits (timers added
    /// and removed by writes held in flight), firings and resets: the pages read around a write in
    /// flight, and the partition floors they set, never skip or repeat a timer.
    @Test func duePagesAroundWritesInFlightEqualABruteForceScan() throws {
        let dir = scratchPath("behind")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try StateStore(directory: dir, embeddingBatchID: "e1", width: 2)
        let gate = Gate()
        gate.hold(store)
        var rng = SplitMix64(seed: 23)
        func draw(_ n: Int) -> Int { Int(rng.next() % UInt64(n)) }
        // The oracle: every live timer.
        typealias Timer = LiveTimer
        var live = Set<Timer>()
        func expected(_ partition: Int32, upTo: Int64, limit: Int) -> [Timer] { LiveTimer.due(live, partition, upTo: upTo, limit: limit) }
        var pagesInFlight = 0, next: Int64 = 0
        for _ in 0..<2_000 {
            let partition = Int32(draw(3))
            switch draw(10) {
            case 0..<4:
                // A cycle: a few users, each with a new timer, some also dropping a live one.
                gate.open()
                var changes: [TimerChange] = []
                var users: [(UserKey, UserState)] = []
                for i in 0..<(1 + draw(4)) {
                    let user = UserKey(partition: partition, userID: Array("c\(draw(1_000))-\(i)".utf8))
                    let old = live.filter { $0.partition == partition }.randomElement(using: &rng)
                    if let old, draw(3) == 0 {
                        let owner = UserKey(partition: partition, userID: old.user)
                        changes.append(TimerChange(user: owner, old: old.time, new: nil))
                        live.remove(old)
                    }
                    let time = Int64(draw(1_000)) - 100
                    if !live.contains(Timer(partition: partition, time: time, user: user.userID)) {
                        changes.append(TimerChange(user: user, old: nil, new: time))
                        live.insert(Timer(partition: partition, time: time, user: user.userID))
                    }
                    users.append((user, state(listenAt: 1_780_000_000_000, value: Float(i))))
                }
                next += 1
                try commitCycle(store, users, timers: changes, next: next)
                gate.held = 1
            case 4..<9:
                let upTo = Int64(draw(1_100)) - 100, limit = 1 + draw(8)
                let due = try store.dueTimers(partition: partition, upTo: upTo, limit: limit)
                #expect(due.map { Timer(partition: partition, time: $0.timeMs, user: $0.user.userID) } == expected(partition, upTo: upTo, limit: limit))
                if gate.held > 0 { pagesInFlight += 1 }
                if draw(2) == 0 {
                    gate.open()
                    let fired = due.prefix((due.count + 1) / 2)
                    try store.commitTimers(fired.map { TimerChange(user: $0.user, old: $0.timeMs, new: nil) })
                    for f in fired { live.remove(Timer(partition: partition, time: f.timeMs, user: f.user.userID)) }
                }
            default:
                if draw(6) == 0 {
                    gate.open()
                    try store.resetPartition(partition, topics: [], checkpoint: 0)
                    live = live.filter { $0.partition != partition }
                }
            }
        }
        gate.open()
        for p in Int32(0)..<3 {
            let all = try store.timers(partition: p).map { Timer(partition: p, time: $0.timeMs, user: $0.user.userID) }
            #expect(all == expected(p, upTo: .max, limit: .max))
        }
        #expect(pagesInFlight > 300 && store.writesWaitedFor > 300, "pages read around \(pagesInFlight) writes in flight")
    }
}
