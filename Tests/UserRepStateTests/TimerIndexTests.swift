// The state store's event-time timer index on a real RocksDB: order, due pages, restore scheduling.
import Foundation
import Testing
import UserRepModel
import UserRepState

@Suite struct TimerIndexTests {
    func store() throws -> (StateStore, String) {
        let dir = scratchPath("timers")
        return (try StateStore(directory: dir, embeddingBatchID: "e1", width: 2), dir)
    }

    func state(listenAt times: [Int64]) -> UserState {
        var s = UserState(width: 2)
        for t in times { [Float(1), 2].withUnsafeBufferPointer { s.applyListen(timeMs: t, vector: $0) } }
        return s
    }

    @Test func dueTimersComeInTimeOrderAcrossSignsAndStopAtTheWatermark() throws {
        let (store, dir) = try store()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let times: [Int64] = [5_000, -7, 0, 1 << 40, -(1 << 40), 42, 5_000]
        let changes = times.enumerated().map {
            TimerChange(user: UserKey(partition: 3, userID: Array("u\($0.offset)".utf8)), old: nil, new: $0.element)
        }
        try store.commitTimers(changes)
        try store.commitTimers([TimerChange(user: UserKey(partition: 4, userID: [1]), old: nil, new: 1)])
        #expect(try store.timers(partition: 3).map(\.timeMs) == times.sorted())
        let due = try store.dueTimers(partition: 3, upTo: 42, limit: 10)
        #expect(due.map(\.timeMs) == [-(1 << 40), -7, 0, 42])
        #expect(try store.dueTimers(partition: 3, upTo: 42, limit: 2).map(\.user.userIDString) == ["u4", "u1"])
        // Firing deletes the old key and adds the next one.
        try store.commitTimers([TimerChange(user: due[0].user, old: due[0].timeMs, new: 9_999)])
        #expect(try store.timers(partition: 3).map(\.timeMs) == [-7, 0, 42, 5_000, 5_000, 9_999, 1 << 40])
        #expect(try store.timers(partition: 4).count == 1, "partitions apart")
    }

    /// A state restored from the changelog schedules its next window change after its newest event,
    /// or after its last fired timer when that is later; a rebuild does the same for every user.
    @Test func restoredStatesAreScheduledAfterTheirLastFiredTimer() throws {
        let (store, dir) = try store()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let day = Horizon.dayMs
        let t0: Int64 = 1_780_000_000_000
        let quiet = state(listenAt: [t0])
        let busy = state(listenAt: [t0, t0 + 20 * day])
        let a = UserKey(partition: 0, userID: Array("a".utf8)), b = UserKey(partition: 0, userID: Array("b".utf8))
        let firstChange = try #require(quiet.tiles.nextChange(after: t0, horizons: Horizon.all))
        // a's first timer fired as of a watermark past it.
        try store.commitTimers([], fired: [(a, firstChange + day)])
        try store.applyChangelog(
            partition: 0, records: [(a.userID, UserStateCodec.encode(quiet)), (b.userID, UserStateCodec.encode(busy))], checkpoint: 2)
        let scheduled = Dictionary(uniqueKeysWithValues: try store.timers(partition: 0).map { ($0.user, $0.timeMs) })
        #expect(scheduled[a] == quiet.tiles.nextChange(after: firstChange + day, horizons: Horizon.all))
        #expect(scheduled[b] == busy.tiles.nextChange(after: t0 + 20 * day, horizons: Horizon.all))
        #expect(try store.timersBuilt(partition: 0) == false, "a store that predates timers is rebuilt once")
        let rebuilt = try store.rebuildTimers(partition: 0)
        let built = try store.timersBuilt(partition: 0)
        #expect(rebuilt == 2 && built)
        #expect(Dictionary(uniqueKeysWithValues: try store.timers(partition: 0).map { ($0.user, $0.timeMs) }) == scheduled)
        #expect(try store.newestEventTime(partition: 0) == t0 + 20 * day)
    }

    /// Fired-timer records from the changelog: the restore keeps each user's fired time (only when
    /// later than the one stored) and schedules the user after it, whether the user's state comes
    /// in the same batch of records or was restored before, as if the step's own timer commit had
    /// happened.
    @Test func aRestoredFiredTimeIsKeptAndSchedulesAfterIt() throws {
        let (store, dir) = try store()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let day = Horizon.dayMs
        let t0: Int64 = 1_780_000_000_000
        let quiet = state(listenAt: [t0])
        let encoded = UserStateCodec.encode(quiet)
        let a = UserKey(partition: 1, userID: Array("a".utf8)), b = UserKey(partition: 1, userID: Array("b".utf8))
        let c = UserKey(partition: 1, userID: Array("c".utf8))
        let first = try #require(quiet.tiles.nextChange(after: t0, horizons: Horizon.all))
        let second = try #require(quiet.tiles.nextChange(after: first, horizons: Horizon.all))
        try store.commitTimers([], fired: [(b, second + day)])
        // c's state was restored earlier; its first timer is scheduled.
        try store.applyChangelog(partition: 1, records: [(c.userID, encoded)], checkpoint: 1)
        #expect(try store.timers(partition: 1).map(\.timeMs) == [first])
        try store.applyChangelog(
            partition: 1, records: [(a.userID, encoded), (b.userID, encoded), (a.userID, encoded)],
            timersFired: [a.userID: first, b.userID: first, c.userID: first], checkpoint: 4)
        #expect(try store.firedAsOf([a, b, c]) == [first, second + day, first], "a and c learn theirs, b keeps its later one")
        let timers = try store.timers(partition: 1)
        let scheduled = Dictionary(grouping: timers, by: \.user).mapValues { Set($0.map(\.timeMs)) }
        #expect(scheduled[a] == [second])
        #expect(scheduled[b] == [try #require(quiet.tiles.nextChange(after: second + day, horizons: Horizon.all))])
        #expect(scheduled[c] == [first, second], "c's next timer is added; the old one is left for the worker to drop as stale")
        // A later record of the user without a fired time (it listened again) leaves the time alone.
        try store.applyChangelog(partition: 1, records: [(a.userID, UserStateCodec.encode(state(listenAt: [t0, t0 + 1])))], checkpoint: 5)
        #expect(try store.firedAsOf([a]) == [first])
    }

    /// The due pages of a long random run of schedules, firings and partition resets equal a
    /// brute-force scan of the live timers, so skipping from each partition's floor (past the
    /// tombstones of fired timers) never skips a live timer, whether a later put lands before,
    /// at or after the floor.
    @Test func duePagesEqualABruteForceScanThroughSchedulesFiringsAndResets() throws {
        let (store, dir) = try store()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var rng = SplitMix64(seed: 11)
        func draw(_ n: Int) -> Int { Int(rng.next() % UInt64(n)) }
        // The oracle: every live timer.
        typealias Timer = LiveTimer
        var live = Set<Timer>()
        func expected(_ partition: Int32, upTo: Int64, limit: Int) -> [Timer] { LiveTimer.due(live, partition, upTo: upTo, limit: limit) }
        var pages = 0, nonEmpty = 0
        for _ in 0..<3_000 {
            let partition = Int32(draw(3))
            switch draw(10) {
            case 0..<4:
                // Schedule a few timers, some before anything fired so far.
                let changes = (0..<(1 + draw(5))).map { _ in
                    TimerChange(
                        user: UserKey(partition: partition, userID: Array("u\(draw(40))".utf8)), old: nil, new: Int64(draw(1_000)) - 100)
                }
                try store.commitTimers(changes)
                for c in changes { live.insert(Timer(partition: partition, time: c.new ?? 0, user: c.user.userID)) }
            case 4..<9:
                // Fire a page: read it, and delete what it returned (all of it, or the first half).
                let upTo = Int64(draw(1_100)) - 100, limit = 1 + draw(8)
                let due = try store.dueTimers(partition: partition, upTo: upTo, limit: limit)
                let want = expected(partition, upTo: upTo, limit: limit)
                #expect(due.map { Timer(partition: partition, time: $0.timeMs, user: $0.user.userID) } == want)
                pages += 1
                if !due.isEmpty { nonEmpty += 1 }
                let fired = due.prefix(draw(2) == 0 ? due.count : (due.count + 1) / 2)
                try store.commitTimers(fired.map { TimerChange(user: $0.user, old: $0.timeMs, new: nil) })
                for f in fired { live.remove(Timer(partition: partition, time: f.timeMs, user: f.user.userID)) }
            default:
                if draw(5) == 0 {
                    try store.resetPartition(partition, topics: [], checkpoint: 0)
                    live = live.filter { $0.partition != partition }
                }
            }
        }
        for p in Int32(0)..<3 {
            let all = try store.timers(partition: p).map { Timer(partition: p, time: $0.timeMs, user: $0.user.userID) }
            #expect(all == expected(p, upTo: .max, limit: .max))
        }
        #expect(pages > 1_000 && nonEmpty > 300, "the run fired pages: \(nonEmpty) of \(pages)")
    }
}
