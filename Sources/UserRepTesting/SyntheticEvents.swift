// A whole synthetic world as event files: listens, sign-ups with first sessions, and the catalogue.
import Foundation
import UserRepModel
import UserRepPipeline

/// The synthetic generator's listens with each user's sign-up (an onboarding event a minute
/// before their first listen) and a first session after it, the way new users behave: what
/// cold start is evaluated on. Deterministic for the settings' seed.
public enum SyntheticEvents {
    /// Generated events, each list sorted by event time.
    public struct World: Sendable {
        /// Every listen.
        public var listens: [ListenEvent] = []
        /// One onboarding event per user.
        public var onboarding: [OnboardingEvent] = []
        /// The catalogue.
        public var tracks: [TrackRecord] = []
    }

    /// `listens` listens spread evenly over the generator's span, by users who arrive over its
    /// first 90% (each signs up at their first listen), plus `firstSession` more per user in the
    /// two hours after sign-up. With `sessionLength` above 1 the timeline comes in sessions: a
    /// user drawn plays that many consecutive listens of it (the last session may be shorter);
    /// with 1, every listen's user is drawn anew.
    public static func generate(settings: SyntheticGenerator.Settings, listens: Int, firstSession: Int, sessionLength: Int = 1) -> World {
        var generator = SyntheticGenerator(settings: settings)
        var world = World()
        world.tracks = generator.trackRecords()
        // Users arrive over the first 90% of the span, each at a time of their own; a listen's
        // user is drawn by activity among those who have arrived.
        var arrivalRNG = SplitMix64(seed: settings.seed ^ 0xA771)
        let spanMs = Int64(settings.spanDays) * Horizon.dayMs, start = settings.endTimeMs - spanMs
        let arrival = (0..<settings.users).map { _ in start + Int64(arrivalRNG.nextUnit() * 0.9 * Double(spanMs)) }
        let firstArrived = arrival.indices.min { arrival[$0] < arrival[$1] } ?? 0
        var seen = Set<Int>()
        var session = SplitMix64(seed: settings.seed ^ 0x5E55)
        var user = firstArrived
        for i in 0..<listens {
            let time = start + Int64(Double(i) / Double(max(1, listens - 1)) * Double(spanMs))
            if i % max(1, sessionLength) == 0 {
                user = firstArrived
                for _ in 0..<64 {
                    let candidate = generator.sampleUser()
                    if arrival[candidate] <= time {
                        user = candidate
                        break
                    }
                }
            }
            if seen.insert(user).inserted {
                let signup = time - 60_000
                world.onboarding.append(generator.onboarding(user: Array(SyntheticGenerator.userID(user).utf8), timeMs: signup))
                for _ in 0..<firstSession {
                    let at = signup + 60_000 + Int64(session.nextUnit() * 2 * 3_600_000)
                    world.listens.append(generator.listen(user: user, timeMs: at))
                }
            }
            world.listens.append(generator.listen(user: user, timeMs: time))
        }
        world.listens.sort { $0.timestampMs < $1.timestampMs }
        return world
    }
}
