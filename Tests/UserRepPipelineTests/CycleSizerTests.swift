// The poll limit that keeps a cycle's state bytes near `--max-cycle-state-mb`.
import Foundation
import Testing
@testable import UserRepPipeline

@Suite struct CycleSizerTests {
    @Test func withoutAByteBoundTheLimitIsTheRecordBound() {
        #expect(CycleSizer(maxRecords: 5, maxStateBytes: 1).limit == 1, "never below one record")
        var sizer = CycleSizer(maxRecords: 100_000, maxStateBytes: 0)
        sizer.observe(records: 100_000, stateBytes: 500 << 20)
        #expect(sizer.limit == 100_000)
    }

    @Test func aCycleOverTheBoundCutsTheNextInProportion() {
        var sizer = CycleSizer(maxRecords: 100_000, maxStateBytes: 48 << 20)
        #expect(sizer.limit == 12_500, "the first cycle, with nothing to go on, starts slow")
        sizer.observe(records: 12_500, stateBytes: 10 << 20)
        #expect(sizer.limit == 25_000)
        sizer.observe(records: 25_000, stateBytes: 20 << 20)
        sizer.observe(records: 50_000, stateBytes: 40 << 20)
        #expect(sizer.limit == 60_000, "where 48 MiB would end at 40 MiB per 50k records")
        sizer.observe(records: 100_000, stateBytes: 150 << 20)
        #expect(sizer.limit == 32_000)
        // One record over the bound still reads one record.
        sizer.observe(records: 1, stateBytes: 100 << 20)
        #expect(sizer.limit == 1)
    }

    @Test func underTheBoundTheLimitAtMostDoublesUpToTheRecordBound() {
        var sizer = CycleSizer(maxRecords: 100_000, maxStateBytes: 48 << 20)
        sizer.observe(records: 100_000, stateBytes: 480 << 20)
        #expect(sizer.limit == 10_000)
        // A live cycle of 300 records writing 100 KB would allow far more: twice the limit.
        sizer.observe(records: 300, stateBytes: 100_000)
        #expect(sizer.limit == 20_000)
        // Cycles of only foreign or duplicate records write nothing: the limit grows too.
        sizer.observe(records: 500, stateBytes: 0)
        #expect(sizer.limit == 40_000)
        sizer.observe(records: 500, stateBytes: 0)
        sizer.observe(records: 500, stateBytes: 0)
        #expect(sizer.limit == 100_000, "capped at the record bound")
        // An empty poll teaches nothing.
        sizer.observe(records: 0, stateBytes: 0)
        #expect(sizer.limit == 100_000)
    }

    /// Against a workload whose bytes per record rise as cycles shrink (bytes = c·n^0.8, as when
    /// fewer events coalesce per user): from below and from above the limit settles, within a few
    /// cycles, at the largest cycle that fits the bound, found here by brute force.
    @Test func settlesAtTheLargestCycleThatFitsTheBound() {
        let bound = 48 << 20
        var weight = 15_000.0
        func bytes(_ n: Int) -> Int { Int(weight * pow(Double(n), 0.8)) }
        func largestFitting() -> Int { (1...100_000).last { bytes($0) <= bound } ?? 0 }
        var sizer = CycleSizer(maxRecords: 100_000, maxStateBytes: bound)
        func run(_ cycles: Int) -> [Int] {
            (0..<cycles).map { _ in
                let n = sizer.limit
                sizer.observe(records: n, stateBytes: bytes(n))
                return bytes(n)
            }
        }
        let fitting = largestFitting()
        #expect(fitting > 20_000 && fitting < 100_000, "the bound binds: \(fitting)")
        // From the slow start: never over the bound, and at it within six cycles.
        let start = run(6)
        #expect(start.allSatisfy { $0 <= bound }, "\(start)")
        #expect(abs(sizer.limit - fitting) <= fitting / 100, "\(sizer.limit) against \(fitting)")

        // The users' states grow to twice the bytes per record: one cycle at twice the bound,
        // then the cuts close in from above.
        weight *= 2
        let heavier = run(6)
        #expect(heavier[0] > 2 * bound - bound / 50 && heavier[1] > bound && heavier[1] < heavier[0], "\(heavier)")
        #expect(Double(heavier[5]) < Double(bound) * 1.01, "within 1% after five cycles: \(heavier)")
        #expect(abs(sizer.limit - largestFitting()) <= largestFitting() / 100, "\(sizer.limit) against \(largestFitting())")

        // From below: a limit cut far under it (a burst of heavy users) grows back.
        sizer.observe(records: sizer.limit, stateBytes: 100 * bound)
        #expect(sizer.limit < largestFitting() / 50)
        let recovery = run(12)
        #expect(recovery.allSatisfy { $0 <= bound }, "\(recovery)")
        #expect(abs(sizer.limit - largestFitting()) <= largestFitting() / 100, "\(sizer.limit) against \(largestFitting())")
    }
}
