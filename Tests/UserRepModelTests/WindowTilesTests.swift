// Property tests holding the tiled window aggregates against a brute-force recomputation.
import Testing
import UserRepModel

@Suite struct WindowTilesTests {
    struct Event { let time: Int64; let embedding: [Float] }

    /// The documented rule, computed from raw events only: an event's tile under reference `T`,
    /// counted iff the tile ends after `t - H`.
    static func bruteForce(_ events: [Event], horizon: Horizon, at t: Int64, width: Int) -> (UInt64, [Double]) {
        guard let ref = events.map(\.time).max() else { return (0, Array(repeating: 0, count: width)) }
        var count: UInt64 = 0
        var sums = [Double](repeating: 0, count: width)
        for e in events where TilePolicy.listenCounts(eventTimeMs: e.time, referenceTimeMs: ref, horizon: horizon, computeTimeMs: t) {
            count += 1
            for k in 0..<width { sums[k] += Double(e.embedding[k]) }
        }
        return (count, sums)
    }

    static func exactCount(_ events: [Event], horizon: Horizon, at t: Int64) -> (inside: Int, nearTail: Int) {
        let g = Int64(TilePolicy.tailGranularityDays(of: horizon)) * Horizon.dayMs
        let inside = events.filter { t - $0.time < horizon.lengthMs }.count
        let near = events.filter { t - $0.time < horizon.lengthMs + g }.count
        return (inside, near)
    }

    @Test(arguments: 0..<40)
    func aggregatesMatchBruteForceOverRandomStreams(seed: Int) {
        var rng = SplitMix64(seed: UInt64(seed) &* 7919 &+ 17)
        let width = 4
        let start: Int64 = 1_700_000_000_000
        let span = 365 * Horizon.dayMs
        let n = 1 + Int(rng.next() % 300)
        // Mostly increasing times with out-of-order stragglers, like a real per-user stream.
        var events: [Event] = []
        var clock = start
        for _ in 0..<n {
            clock += Int64(rng.next() % UInt64(2 * span / Int64(n) + 1))
            let late = rng.next() % 5 == 0 ? Int64(rng.next() % UInt64(60 * Horizon.dayMs)) : 0
            let embedding = (0..<width).map { _ in Float(rng.nextGaussian()) }
            events.append(Event(time: clock - late, embedding: embedding))
        }
        var tiles = WindowTiles(width: width)
        var applied: [Event] = []
        for (i, e) in events.enumerated() {
            e.embedding.withUnsafeBufferPointer { _ = tiles.add(timeMs: e.time, embedding: $0) }
            applied.append(e)
            #expect(tiles.tileCount <= 31, "tile bound exceeded: \(tiles.tileCount)")
            guard i % 17 == 0 || i == events.count - 1 else { continue }
            // Check at the newest event time and at later times with no new events (ageing out).
            let ref = applied.map(\.time).max() ?? 0
            for later in [Int64(0), 3 * Horizon.dayMs, 40 * Horizon.dayMs, 200 * Horizon.dayMs] {
                let t = ref + later
                let got = tiles.aggregate(horizons: Horizon.all, at: t)
                for (h, horizon) in Horizon.all.enumerated() {
                    let (count, sums) = Self.bruteForce(applied, horizon: horizon, at: t, width: width)
                    #expect(got[h].count == count, "seed \(seed) horizon \(horizon) at +\(later)ms")
                    for k in 0..<width {
                        let tolerance = 1e-3 * max(1, Double(count))
                        #expect(abs(Double(got[h].sums[k]) - sums[k]) <= tolerance)
                    }
                    let bounds = Self.exactCount(applied, horizon: horizon, at: t)
                    #expect(
                        Int(count) >= bounds.inside && Int(count) <= bounds.nearTail,
                        "count \(count) outside documented granularity [\(bounds.inside), \(bounds.nearTail)]")
                }
            }
        }
    }

    @Test func listensAgeOutWithNoNewEvents() {
        var tiles = WindowTiles(width: 1)
        let t0: Int64 = 1_700_000_000_000
        [Float(1)].withUnsafeBufferPointer { _ = tiles.add(timeMs: t0, embedding: $0) }
        let fresh = tiles.aggregate(horizons: Horizon.all, at: t0)
        #expect(fresh.map(\.count) == [1, 1, 1])
        let after8Days = tiles.aggregate(horizons: Horizon.all, at: t0 + 8 * Horizon.dayMs + 1)
        #expect(after8Days.map(\.count) == [0, 1, 1])
        let after40Days = tiles.aggregate(horizons: Horizon.all, at: t0 + 38 * Horizon.dayMs)
        #expect(after40Days.map(\.count) == [0, 0, 1])
        let afterYear = tiles.aggregate(horizons: Horizon.all, at: t0 + 365 * Horizon.dayMs)
        #expect(afterYear.map(\.count) == [0, 0, 0])
    }

    @Test func listenOlderThanLongestHorizonIsDropped() {
        var tiles = WindowTiles(width: 1)
        let t0: Int64 = 1_700_000_000_000
        [Float(1)].withUnsafeBufferPointer { one in
            _ = tiles.add(timeMs: t0, embedding: one)
            #expect(tiles.add(timeMs: t0 - 400 * Horizon.dayMs, embedding: one) == false)
        }
        #expect(tiles.tileCount == 1)
    }

    /// `nextChange` against a day-by-day scan of the brute-force counts: the first time after the
    /// as-of time at which any horizon's count drops (every tile end and horizon is a whole day, so
    /// changes fall on day boundaries), or nil if none ever does.
    @Test(arguments: 0..<30)
    func nextWindowChangeMatchesDayByDayScan(seed: Int) {
        var rng = SplitMix64(seed: UInt64(seed) &* 104_729 &+ 3)
        let base: Int64 = 1_700_000_000_000
        var tiles = WindowTiles(width: 1)
        var events: [Event] = []
        for _ in 0..<(1 + Int(rng.next() % 60)) {
            let time = base + Int64(rng.next() % UInt64(200 * Horizon.dayMs))
            events.append(Event(time: time, embedding: [1]))
            [Float(1)].withUnsafeBufferPointer { _ = tiles.add(timeMs: time, embedding: $0) }
        }
        let newest = events.map(\.time).max() ?? base
        let horizons = Horizon.all
        for asOf in [newest, newest + Int64(rng.next() % UInt64(40 * Horizon.dayMs))] {
            func signature(_ t: Int64) -> [UInt64] { tiles.aggregate(horizons: horizons, at: t).map(\.count) }
            let start = signature(asOf)
            var expected: Int64?
            var day = TilePolicy.day(of: asOf) + 1
            while expected == nil && Int64(day) * Horizon.dayMs <= asOf + 400 * Horizon.dayMs {
                let t = Int64(day) * Horizon.dayMs
                if signature(t) != start { expected = t }
                day += 1
            }
            #expect(tiles.nextChange(after: asOf, horizons: horizons) == expected, "seed \(seed) as of \(asOf)")
            if let expected {
                #expect(signature(expected - 1) == start, "nothing changes before it")
                // Brute force from the raw events agrees that a window changed there.
                let before = horizons.map { Self.bruteForce(events, horizon: $0, at: expected - 1, width: 1).0 }
                let after = horizons.map { Self.bruteForce(events, horizon: $0, at: expected, width: 1).0 }
                #expect(before != after)
            }
        }
    }

    /// A new tile grows the sums by exactly one tile: doubling the capacity left up to twice the
    /// memory allocated, unseen by the state cache's byte bound.
    @Test func aNewTileAllocatesOneTileMore() {
        let width = 168
        var tiles = WindowTiles(width: width)
        let t0: Int64 = 1_790_000_000_000
        let embedding = [Float](repeating: 1, count: width)
        var most = 0
        for day in 0..<40 {
            embedding.withUnsafeBufferPointer { _ = tiles.add(timeMs: t0 + Int64(day) * 86_400_000, embedding: $0) }
            // Compaction merges tiles and keeps the capacity: the bound is the most tiles ever held
            // (plus the allocator's rounding), not twice that.
            most = max(most, tiles.sums.count)
            #expect(tiles.sums.capacity < most + width / 2, "capacity \(tiles.sums.capacity) for at most \(most)")
        }
    }
}
