// The evaluations' classifier: its gradient against central finite differences, and a planted
// interaction it must learn where a model of the item alone cannot.
import Foundation
import Testing
@testable import UserRepModel

@Suite struct PairClassifierTests {
    static func randomSet(users: Int, p: Int, q: Int, pairs: Int, seed: UInt64) -> PairSet {
        var rng = SplitMix64(seed: seed)
        var set = PairSet(users: (0..<(users * p)).map { _ in rng.nextGaussian() }, userWidth: p, itemWidth: q)
        for _ in 0..<pairs {
            set.append(user: Int(rng.next() % UInt64(users)), item: (0..<q).map { _ in rng.nextGaussian() }, label: rng.nextUnit() < 0.5)
        }
        return set
    }

    @Test func theGradientEqualsCentralFiniteDifferences() {
        let set = Self.randomSet(users: 5, p: 3, q: 4, pairs: 20, seed: 3)
        var rng = SplitMix64(seed: 9)
        let count = PairClassifier.parameterCount(userWidth: 3, itemWidth: 4)
        let base = PairClassifier(
            userWidth: 3, itemWidth: 4, parameters: (0..<count).map { _ in rng.nextGaussian() * 0.3 },
            userMean: [0.1, -0.2, 0.05], userScale: [1.2, 0.8, 1], itemMean: [0, 0.3, -0.1, 0.2], itemScale: [1, 0.9, 1.1, 0.7])
        var analytic: [Float] = []
        base.gradient(of: set, pairs: 0..<set.count, l2: 0.05, into: &analytic)
        #expect(analytic.count == count)
        var worst = 0.0
        for k in 0..<count {
            let h: Float = 1e-2
            var plus = base.parameters, minus = base.parameters
            plus[k] += h
            minus[k] -= h
            let up = PairClassifier(
                userWidth: 3, itemWidth: 4, parameters: plus, userMean: base.userMean, userScale: base.userScale,
                itemMean: base.itemMean, itemScale: base.itemScale)
            let down = PairClassifier(
                userWidth: 3, itemWidth: 4, parameters: minus, userMean: base.userMean, userScale: base.userScale,
                itemMean: base.itemMean, itemScale: base.itemScale)
            let numeric =
                (up.loss(of: set, pairs: 0..<set.count, l2: 0.05) - down.loss(of: set, pairs: 0..<set.count, l2: 0.05)) / Double(2 * h)
            worst = max(worst, abs(numeric - Double(analytic[k])) / max(1e-2, abs(numeric)))
        }
        #expect(worst < 2e-3, "worst relative gradient error \(worst)")
    }

    @Test func itLearnsATasteThatDependsOnTheUserWhereItemFeaturesAloneAreAtChance() throws {
        // Users of sign +1 play items of sign +1 and the others items of sign -1: a rule in u·t only.
        var rng = SplitMix64(seed: 4)
        let users = (0..<40).map { i in Float(i % 2 == 0 ? 1 : -1) + rng.nextGaussian() * 0.1 }
        func pairs(_ seed: UInt64, userWidth: Int) -> PairSet {
            var r = SplitMix64(seed: seed)
            var set = PairSet(users: userWidth == 0 ? [] : users, userWidth: userWidth, itemWidth: 1)
            for _ in 0..<800 {
                let u = Int(r.next() % 40), t: Float = r.nextUnit() < 0.5 ? 1 : -1
                set.append(user: u, item: [t + r.nextGaussian() * 0.1], label: (users[u] > 0) == (t > 0))
            }
            return set
        }
        var options = PairClassifier.Options()
        options.epochs = 10
        let withUser = PairClassifier.fit(pairs(1, userWidth: 1), options: options)
        let test = pairs(2, userWidth: 1)
        let auc = try #require(ROCAUC.auc(scores: withUser.probabilities(test), labels: test.labels))
        #expect(auc > 0.99)
        #expect(ROCAUC.accuracy(scores: withUser.probabilities(test), labels: test.labels) > 0.95)
        let itemOnly = PairClassifier.fit(pairs(1, userWidth: 0), options: options)
        let itemTest = pairs(2, userWidth: 0)
        let chance = try #require(ROCAUC.auc(scores: itemOnly.probabilities(itemTest), labels: itemTest.labels))
        #expect(abs(chance - 0.5) < 0.1, "an item-only model ranks every user's items alike: \(chance)")
        // Same data and seed, same weights.
        #expect(PairClassifier.fit(pairs(1, userWidth: 1), options: options).parameters == withUser.parameters)
    }
}
