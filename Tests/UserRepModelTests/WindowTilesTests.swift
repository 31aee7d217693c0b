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
}
