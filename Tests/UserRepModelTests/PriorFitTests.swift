// The empirical-Bayes prior: exact on a known line, close to the truth on simulated users, silent
// where the data cannot say.
import Testing

@testable import UserRepModel

@Suite struct PriorFitTests {
    /// An aggregate of listens with these embeddings.
    static func aggregate(_ listens: [[Float]], width: Int) -> HorizonAggregate {
        var a = HorizonAggregate(width: width)
        for l in listens { l.withUnsafeBufferPointer { a.add(count: 1, tile: $0.baseAddress!) } }
        return a
    }

    @Test func pointsOnALineGiveItsSlopeAndIntercept() throws {
        var fit = PriorFit()
        for x in [0.05, 0.1, 0.3, 0.7, 1.0] { fit.add(x: x, squaredDistance: 0.5 + 10 * x) }
        let e = try #require(fit.estimate)
        #expect(abs(e.sigma2 - 10) < 1e-9 && abs(e.tau2 - 0.5) < 1e-9 && abs(e.priorListens - 20) < 1e-7)
    }

    @Test func aUsersWindowsGiveOnePointByHand() throws {
        // Short: two listens, mean (1, 0); long: those and two more, mean (0.5, 0.5). x = 1/2 − 1/4.
        let short: [[Float]] = [[1, 0, 9], [1, 0, 9]]
        let long = short + [[0, 1, 9], [0, 1, 9]]
        var fit = PriorFit()
        fit.add(short: Self.aggregate(short, width: 3), long: Self.aggregate(long, width: 3), width: 2)
        var reference = PriorFit()
        reference.add(x: 0.25, squaredDistance: 0.5)
        #expect(fit == reference, "only the first `width` sums count")
        // Skipped: no listen in the short window, or none outside it.
        fit.add(short: Self.aggregate([], width: 3), long: Self.aggregate(long, width: 3), width: 2)
        fit.add(short: Self.aggregate(short, width: 3), long: Self.aggregate(short, width: 3), width: 2)
        #expect(fit.users == 1)
    }

    @Test func simulatedUsersRecoverTheirNoiseAndDrift() throws {
        // Per dimension: listen noise 0.5² and drift 0.2², over 8 dimensions: σ² = 2, τ² = 0.32, prior 6.25.
        let dims = 8, noise: Float = 0.5, drift: Float = 0.2
        var rng = SplitMix64(seed: 11)
        var fit = PriorFit()
        for user in 0..<3_000 {
            let taste = (0..<dims).map { _ in rng.nextGaussian() }
            let recent = taste.map { $0 + drift * rng.nextGaussian() }
            let n = 1 + user % 25
            let short = (0..<n).map { _ in recent.map { $0 + noise * rng.nextGaussian() } }
            let older = (0..<1_000).map { _ in taste.map { $0 + noise * rng.nextGaussian() } }
            fit.add(short: Self.aggregate(short, width: dims), long: Self.aggregate(short + older, width: dims), width: dims)
        }
        let e = try #require(fit.estimate)
        #expect(abs(e.sigma2 - 2) < 0.15, "σ² \(e.sigma2)")
        // The long window holds the short one's listens too, which pulls the drift in by (1 − n/N)².
        #expect(abs(e.tau2 - 0.32) < 0.04, "τ² \(e.tau2)")
        #expect(e.priorListens > 5 && e.priorListens < 7.5, "prior \(e.priorListens)")
    }

    @Test func tooFewUsersOrOneListenCountGiveNoFit() {
        var fit = PriorFit()
        fit.add(x: 0.1, squaredDistance: 1)
        fit.add(x: 0.2, squaredDistance: 2)
        #expect(fit.estimate == nil, "two users")
        var same = PriorFit()
        for _ in 0..<10 { same.add(x: 0.5, squaredDistance: 1) }
        #expect(same.estimate == nil, "no spread in listen counts")
        var drifting = PriorFit()
        for x in [0.1, 0.2, 0.3] { drifting.add(x: x, squaredDistance: 5 - x) }
        #expect(drifting.estimate == nil, "distances that fall as listens get fewer: no σ²")
        var steady = PriorFit()
        for x in [0.1, 0.2, 0.3] { steady.add(x: x, squaredDistance: 3 * x) }
        #expect(steady.estimate?.priorListens == .infinity, "no drift at all")
    }
}
