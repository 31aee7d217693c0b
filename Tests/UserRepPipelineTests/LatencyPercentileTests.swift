// Latency percentiles of the whole run and of its parts, against a brute-force nearest-rank pick.
import Testing
@testable import UserRepPipeline

@Suite struct LatencyPercentileTests {
    /// The nearest-rank percentile of `samples`: the smallest value with at least p% of them at or below it.
    func nearestRank(_ p: Double, _ samples: [Double]) -> Double? {
        let sorted = samples.sorted()
        return sorted.first { v in Double(sorted.filter { $0 <= v }.count) >= p / 100 * Double(sorted.count) }
    }

    @Test func wholeRunAndThirdsMatchABruteForcePick() {
        var metrics = WorkerMetrics()
        // Three regimes in arrival order, with ties: a slow start, a steady middle, a slow end.
        metrics.latencySamplesMs = (0..<30).map { Double(200 - $0) } + (0..<30).map { Double(10 + $0 % 7) } + (0..<31).map { Double(90 + $0 % 3) }
        let all = metrics.latencySamplesMs
        for p in [1.0, 50, 99, 100] {
            #expect(metrics.latencyPercentile(p) == nearestRank(p, all))
            for i in 0..<3 {
                let part = Array(all[(all.count * i / 3)..<(all.count * (i + 1) / 3)])
                #expect(metrics.latencyPercentile(p, part: (i, 3)) == nearestRank(p, part), "third \(i), p\(p)")
            }
        }
        #expect(metrics.latencyPercentile(99, part: (1, 3)) == 16, "the middle third sees only the steady regime")
        // The thirds cover every sample once.
        let sizes = (0..<3).map { (all.count * ($0 + 1) / 3) - (all.count * $0 / 3) }
        #expect(sizes.reduce(0, +) == all.count)
    }

    @Test func noSamplesGiveNoPercentile() {
        var metrics = WorkerMetrics()
        #expect(metrics.latencyPercentile(50) == nil)
        metrics.latencySamplesMs = [5]
        #expect(metrics.latencyPercentile(50, part: (0, 3)) == nil, "a part with no samples has none")
        #expect(metrics.latencyPercentile(50, part: (2, 3)) == 5)
        #expect(metrics.latencyPercentile(50, part: (3, 3)) == nil && metrics.latencyPercentile(50, part: (0, 0)) == nil, "not a part")
    }
}
