// The guard that tells a track table that does not fit the model from bad input: its window and thresholds.
import Testing
@testable import UserRepPipeline

@Suite struct MisconfigurationGuardTests {
    @Test func tripsOnlyWhenNearlyAllOfEnoughRecentListensAreUnknown() {
        var guardian = MisconfigurationGuard()
        #expect(!guardian.trips(listens: 99, unknown: 99), "too few listens for a verdict")
        #expect(guardian.trips(listens: 100, unknown: 90))
        #expect(!guardian.trips(listens: 100, unknown: 89))
        // Small cycles add up: nine of ten unknown, then a tenth cycle decides.
        for _ in 0..<9 { guardian.record(listens: 10, unknown: 10) }
        #expect(guardian.trips(listens: 10, unknown: 0), "90 of 100")
        #expect(!guardian.trips(listens: 11, unknown: 0), "90 of 101")
        // Only the newest 1,000 or so listens count: healthy history ages out.
        for _ in 0..<20 { guardian.record(listens: 100, unknown: 0) }
        for _ in 0..<8 { guardian.record(listens: 100, unknown: 100) }
        #expect(!guardian.trips(listens: 100, unknown: 0), "800 of the newest 1,000")
        #expect(guardian.trips(listens: 100, unknown: 100), "900 of the newest 1,000")
    }
}
