// The evaluation's data side against brute force: future windows, most-played artists, the pairs
// of a prediction task (never a positive as a negative, users held out whole), and a planted taste
// the task's classifier must find.
import Foundation
import Testing
import UserRepModel
import UserRepPipeline

@Suite struct EvaluationTasksTests {
    static func catalogue(_ n: Int, artists: Int) -> EvaluationCatalogue {
        EvaluationCatalogue(
            records: (0..<n).map { i in
                TrackRecord(
                    trackID: Array("t\(i)".utf8), artistID: Array("a\(i % artists)".utf8), batchID: "b", audio: [Float(i % artists)],
                    collaborative: [1])
            })
    }

    @Test func futureWindowsAndMostPlayedArtistsEqualABruteForceScan() {
        let cat = Self.catalogue(30, artists: 4)
        var rng = SplitMix64(seed: 8)
        let listens = (0..<600).map { _ in
            ListenEvent(
                userID: Array("u\(rng.next() % 12)".utf8), trackID: Array("t\(rng.next() % 32)".utf8), timestampMs: Int64(rng.next() % 100),
                msPlayed: nil, country: nil, device: nil)
        }
        let timeline = ListenTimeline(listens: listens, catalogue: cat)
        #expect(timeline.unknownTracks == listens.filter { cat.index(of: $0.trackID) == nil }.count && timeline.unknownTracks > 0)
        for u in 0..<12 {
            let user = Array("u\(u)".utf8)
            for (after, upTo) in [(Int64(20), Int64(50)), (Int64(0), Int64(99)), (Int64(50), Int64(50))] {
                let brute = Set(
                    listens.filter { $0.userID == user && $0.timestampMs > after && $0.timestampMs <= upTo }.compactMap {
                        cat.index(of: $0.trackID)
                    }
                ).sorted()
                #expect(timeline.played(by: user, after: after, upTo: upTo) == brute)
            }
            var counts: [String: Int] = [:]
            for l in listens where l.userID == user && l.timestampMs <= 60 {
                if let t = cat.index(of: l.trackID) { counts[String(decoding: cat.artists[t], as: UTF8.self), default: 0] += 1 }
            }
            let best = counts.values.max()
            let expected = counts.filter { $0.value == best }.keys.sorted().first
            #expect(timeline.mostPlayedArtist(of: user, upTo: 60, catalogue: cat).map { String(decoding: $0, as: UTF8.self) } == expected)
        }
        let popularity = timeline.popularity(tracks: cat.count, upTo: 40)
        #expect(popularity == (0..<cat.count).map { t in listens.filter { $0.timestampMs <= 40 && cat.index(of: $0.trackID) == t }.count })
    }

    @Test func negativesAreNeverAPositiveOfTheUserAndUsersAreHeldOutWhole() {
        var rng = SplitMix64(seed: 3)
        let positives = (0..<200).map { u in
            u % 7 == 0 ? [] : Array(Set((0..<(1 + Int(rng.next() % 60))).map { _ in Int(rng.next() % 90) })).sorted()
        }
        let task = PredictionTask(positives: positives, catalogue: 100, maxPositives: 20, testFraction: 0.4, seed: 5)
        let trainRows = Set(task.train.map(\.row)), testRows = Set(task.test.map(\.row))
        #expect(trainRows.isDisjoint(with: testRows))
        #expect(trainRows.count == task.trainUsers && testRows.count == task.testUsers)
        #expect(task.trainUsers + task.testUsers == positives.filter { !$0.isEmpty }.count)
        #expect(task.testUsers > 50 && task.testUsers < 110, "about 40% held out: \(task.testUsers)")
        for row in trainRows.union(testRows) {
            let pairs = (task.train + task.test).filter { $0.row == row }
            let kept = pairs.filter(\.label), negatives = pairs.filter { !$0.label }
            #expect(kept.count == min(20, positives[row].count) && negatives.count == kept.count)
            #expect(kept.allSatisfy { positives[row].contains($0.track) })
            #expect(negatives.allSatisfy { !positives[row].contains($0.track) }, "a negative of user \(row) is one of their plays")
            #expect(Set(negatives.map(\.track)).count == negatives.count)
        }
        let again = PredictionTask(positives: positives, catalogue: 100, maxPositives: 20, testFraction: 0.4, seed: 5)
        #expect(again.train == task.train && again.test == task.test)
    }

    @Test func aTasteOneHotPredictsPlaysAndRandomVectorsDoNot() throws {
        // 4 tastes; tracks 0..<80, track t of taste t % 4; each user plays every track of their
        // taste, so every negative is of another taste and a perfect ranking exists.
        let users = 160, tastes = 4
        var rng = SplitMix64(seed: 11)
        let positives = (0..<users).map { u in (0..<20).map { $0 * tastes + u % tastes } }
        let task = PredictionTask(positives: positives, catalogue: 80, maxPositives: 20, testFraction: 0.5, seed: 2)
        func oneHot(_ i: Int) -> [Float] { (0..<tastes).map { $0 == i % tastes ? 1 : 0 } }
        let taste = Representation(name: "taste", vectors: (0..<users).flatMap(oneHot), width: tastes)
        let random = Representation(name: "random", vectors: (0..<(users * tastes)).map { _ in rng.nextGaussian() }, width: tastes)
        var options = PairClassifier.Options()
        options.epochs = 20
        let good = task.score(users: taste, itemWidth: tastes, options: options) { _, t in oneHot(t) }
        let chance = task.score(users: random, itemWidth: tastes, options: options) { _, t in oneHot(t) }
        #expect(try #require(good.auc) > 0.95 && good.accuracy > 0.9, "taste one-hot: \(good)")
        #expect(abs(try #require(chance.auc) - 0.5) < 0.1, "random vectors: \(chance)")
        let summary = PredictionTask.Summary([good, chance])
        #expect(summary.repeats == 2 && abs((summary.auc ?? 0) - ((good.auc ?? 0) + (chance.auc ?? 0)) / 2) < 1e-12)
    }

    @Test func principalComponentsOfARankTwoCloudKeepEveryDistance() throws {
        // 40 points on a plane through an offset in 6 dimensions: two components hold them whole,
        // so every pairwise distance survives the projection (checked by a double-precision loop).
        var rng = SplitMix64(seed: 5)
        let a: [Double] = [1, 2, 0, -1, 0.5, 3], b: [Double] = [0, 1, -2, 1, 1, 0], offset: [Double] = [5, -3, 2, 0, 1, 7]
        let points = (0..<40).map { _ -> [Double] in
            let (s, t) = (rng.nextGaussian() * 3, rng.nextGaussian())
            return (0..<6).map { offset[$0] + Double(s) * a[$0] + Double(t) * b[$0] }
        }
        let r = Representation(name: "plane", vectors: points.flatMap { $0.map { Float($0) } }, width: 6)
        let projected = try r.principalComponents(2)
        #expect(projected.name == "plane" && projected.width == 2 && projected.vectors.count == 80)
        func distance(_ x: [Double], _ y: [Double]) -> Double { zip(x, y).map { ($0 - $1) * ($0 - $1) }.reduce(0, +).squareRoot() }
        let low = (0..<40).map { i in (0..<2).map { Double(projected.vectors[i * 2 + $0]) } }
        var worst = 0.0
        for i in 0..<40 { for j in 0..<i { worst = max(worst, abs(distance(points[i], points[j]) - distance(low[i], low[j]))) } }
        #expect(worst < 1e-3, "largest distance error \(worst)")
        // The first component carries more of the spread than the second, and both are centred.
        let spread = (0..<2).map { c in (0..<40).map { low[$0][c] * low[$0][c] }.reduce(0, +) }
        #expect(spread[0] > spread[1])
        #expect((0..<2).allSatisfy { c in abs((0..<40).map { low[$0][c] }.reduce(0, +)) < 1e-3 })
        #expect(try r.principalComponents(6).vectors == r.vectors, "as many components as dimensions: the vectors as they are")
    }
}
