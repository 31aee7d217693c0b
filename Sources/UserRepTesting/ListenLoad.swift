// Produces synthetic listens to a topic, as fast as possible or at a fixed rate.
import Foundation
import UserRepKafka

/// Drives a `SyntheticGenerator` into the listens topic.
public enum ListenLoad {
    /// Produces `count` listens (index `first..<first+count` of a `total`-event timeline) at
    /// `ratePerSecond` (nil = as fast as possible); stops early when `shouldStop` says so.
    /// With `liveFromMs`, each listen's event time is instead that time plus the wall time since
    /// the load began, as a live stream's events are stamped as they happen.
    /// Returns how many were produced; all are delivered on return.
    @discardableResult
    public static func produce(
        _ generator: inout SyntheticGenerator, producer: KafkaProducer, topic: String, first: Int = 0, count: Int, total: Int,
        ratePerSecond: Double? = nil, liveFromMs: Int64? = nil, onboardingTopic: String? = nil, shouldStop: () -> Bool = { false }
    ) throws -> Int {
        // With an onboarding topic, each user's first listen is preceded by their sign-up.
        var signedUp = Set<[UInt8]>()
        let start = Date()
        var produced = 0
        while produced < count && !shouldStop() {
            if let rate = ratePerSecond {
                let due = Int(Date().timeIntervalSince(start) * rate)
                if due <= produced {
                    producer.poll(timeoutMs: 0)
                    usleep(1_000)
                    continue
                }
            }
            let burst = min(
                count - produced,
                ratePerSecond == nil ? 10_000 : max(1, Int(Date().timeIntervalSince(start) * (ratePerSecond ?? 0)) - produced))
            for _ in 0..<burst {
                let event =
                    if let liveFromMs {
                        generator.listen(atMs: liveFromMs + Int64(Date().timeIntervalSince(start) * 1000))
                    } else {
                        generator.listen(index: first + produced, total: total)
                    }
                if let onboardingTopic, signedUp.insert(event.userID).inserted {
                    let signup = generator.onboarding(user: event.userID, timeMs: event.timestampMs - 60_000)
                    try producer.produce(topic: onboardingTopic, key: signup.userID, value: signup.json())
                }
                try producer.produce(topic: topic, key: event.userID, value: event.json())
                produced += 1
            }
            producer.poll(timeoutMs: 0)
        }
        try producer.flush(timeoutMs: 120_000)
        return produced
    }
}
