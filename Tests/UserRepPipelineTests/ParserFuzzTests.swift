// Random and mutated input against the record parsers: never a crash, valid records always accepted.
import Foundation
import Testing
import UserRepModel
import UserRepPipeline
import UserRepTesting

@Suite struct ParserFuzzTests {
    /// Iterations; set USERREP_SOAK=N to multiply them for a longer run.
    static let rounds = 10_000 * soakFactor

    /// Runs every parser on `bytes`; each must return a value or an `InputRejection`.
    static func parseAll(_ bytes: [UInt8]) -> (listen: Bool, onboarding: Bool, track: Bool) {
        bytes.withUnsafeBytes { raw in
            let listen = (try? ListenEvent.parse(raw)) != nil
            let onboarding = (try? OnboardingEvent.parse(raw)) != nil
            let track = (try? TrackRecord.parse(raw, audioDims: 3, collaborativeDims: 2)) != nil
            return (listen, onboarding, track)
        }
    }

    @Test func mutatedAndRandomRecordsNeverCrashAndValidOnesParse() {
        var rng = SplitMix64(seed: 2026)
        var s = SyntheticGenerator.Settings(users: 100, tracks: 50)
        s.dims = .init(audio: 3, collaborative: 2)
        var generator = SyntheticGenerator(settings: s)
        let tracks = generator.trackRecords()
        var accepted = 0, rejected = 0
        for i in 0..<Self.rounds {
            let listen = generator.listen(index: i, total: Self.rounds)
            let valid: [UInt8]
            switch i % 3 {
            case 0: valid = listen.json()
            case 1: valid = generator.onboarding(user: listen.userID, timeMs: listen.timestampMs).json()
            default: valid = tracks[i % tracks.count].json()
            }
            let ok = Self.parseAll(valid)
            #expect([ok.listen, ok.onboarding, ok.track][i % 3], "valid record refused: \(String(decoding: valid, as: UTF8.self))")
            var bytes = valid
            switch rng.next() % 7 {
            case 0: bytes = Array(bytes.prefix(Int(rng.next() % UInt64(bytes.count))))  // truncated
            case 1:
                for _ in 0..<(1 + rng.next() % 4) { bytes[Int(rng.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: rng.next()) }  // flipped bytes
            case 2: bytes = (0..<Int(rng.next() % 200)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }  // random bytes
            case 3: bytes = Array(String(decoding: valid, as: UTF8.self).replacingOccurrences(of: "\"", with: "").utf8)  // no quotes
            case 4:
                bytes = Array(
                    "{\"user_id\":\"u\",\"track_id\":\"t1\",\"timestamp_ms\":1780000000000,\"x\":[\(String(repeating: "1,", count: 5_000))1]}"
                        .utf8)  // huge array
            case 5: bytes = Array(String(decoding: valid, as: UTF8.self).replacingOccurrences(of: ":", with: ":[").utf8)  // wrong types
            default: bytes = Array(String(repeating: "{\"a\":", count: Int(rng.next() % 100)).utf8)  // deep nesting
            }
            let r = Self.parseAll(bytes)
            if r.listen || r.onboarding || r.track { accepted += 1 } else { rejected += 1 }
        }
        #expect(rejected > Self.rounds / 2, "most mutations must be refused (accepted \(accepted), refused \(rejected))")
    }
}
