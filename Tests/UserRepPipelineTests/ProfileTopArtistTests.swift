// The profiles file's most-played artist per window (features export --listens).
import Foundation
import Testing
import UserRepModel
import UserRepState
@testable import UserRepPipeline

/// The profiles' most-played artist per window, against a brute-force count over the events.
@Suite struct ProfileTopArtistTests {
    @Test func eachWindowsTopArtistIsTheBruteForceCountTiesToTheSmallestID() throws {
        var rng = SplitMix64(seed: 12)
        let day = Horizon.dayMs, at = 400 * day
        let history = (0..<300).map { _ in (timeMs: at - Int64(rng.next() % UInt64(200 * day)), artist: Array("a\(rng.next() % 5)".utf8)) }
        let state = UserState(width: 2)
        let horizons = Horizon.all
        let line = FeatureExport.profileLine(
            key: UserKey(partition: 0, userID: Array("u1".utf8)), state: state, at: at, horizons: horizons,
            aggregates: horizons.map { _ in HorizonAggregate(width: 2) }, history: history)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any])
        let top = try #require(object["top_artist"] as? [String: Any])
        for h in horizons {
            var counts: [String: Int] = [:]
            for e in history where e.timeMs > at - h.lengthMs && e.timeMs <= at {
                counts[String(decoding: e.artist, as: UTF8.self), default: 0] += 1
            }
            let best = counts.values.max()
            let expected = counts.filter { $0.value == best }.keys.sorted().first
            #expect(top[h.name] as? String == expected, "window \(h.name)")
        }
        #expect(top["1w"] is NSNull || top["1w"] is String)
        let without = FeatureExport.profileLine(
            key: UserKey(partition: 0, userID: Array("u1".utf8)), state: state, at: at, horizons: horizons,
            aggregates: horizons.map { _ in HorizonAggregate(width: 2) }, history: nil)
        #expect(!String(decoding: without, as: UTF8.self).contains("top_artist"))
    }
}
