// "Will the user play this track?": labelled pairs for held-out users, and a representation's score on them.
import Foundation
import UserRepModel

/// A prediction task (paper 5.1 and 5.2): for each user, the tracks they played in a window as
/// positives and as many negatives sampled from the catalogue among tracks they did not play;
/// users split at random into those the classifier trains on and those it is scored on.
public struct PredictionTask: Sendable {
    /// One labelled pair: a user (row of the representations) and a catalogue track.
    public struct Pair: Sendable, Equatable {
        /// Row of the user.
        public let row: Int
        /// Catalogue index of the track.
        public let track: Int
        /// Whether the user played it in the window.
        public let label: Bool
    }

    /// Pairs of the users the classifier is trained on.
    public let train: [Pair]
    /// Pairs of the held-out users it is scored on.
    public let test: [Pair]
    /// Users in each split.
    public let trainUsers: Int, testUsers: Int

    /// Builds the pairs. `positives[i]` are the tracks user row `i` played (empty: not evaluated);
    /// at most `maxPositives` of them are kept per user (a random subset, so heavy users do not
    /// dominate); `testFraction` of the users are held out.
    public init(positives: [[Int]], catalogue: Int, maxPositives: Int, testFraction: Double, seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        let sampler = NegativeSampler(catalogue: catalogue)
        var train: [Pair] = [], test: [Pair] = []
        var trainUsers = 0, testUsers = 0
        for (row, played) in positives.enumerated() where !played.isEmpty {
            let held = rng.nextUnit() < testFraction
            var kept = played
            if kept.count > maxPositives {
                for i in stride(from: kept.count - 1, to: 0, by: -1) { kept.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
                kept = Array(kept.prefix(maxPositives)).sorted()
            }
            let negatives = sampler.sample(count: kept.count, excluding: Set(played), rng: &rng)
            let pairs = kept.map { Pair(row: row, track: $0, label: true) } + negatives.map { Pair(row: row, track: $0, label: false) }
            if held {
                test += pairs
                testUsers += 1
            } else {
                train += pairs
                trainUsers += 1
            }
        }
        self.train = train
        self.test = test
        self.trainUsers = trainUsers
        self.testUsers = testUsers
    }

    /// How one representation did on the held-out users.
    public struct Score: Sendable, Codable, Equatable {
        /// ROC AUC over the held-out pairs (nil if they lack a class).
        public let auc: Double?
        /// Accuracy at probability 0.5.
        public let accuracy: Double
        /// Held-out pairs scored.
        public let pairs: Int
    }

    /// Scores of one representation over repeated random splits: means and standard deviations.
    public struct Summary: Sendable, Codable, Equatable {
        /// Mean ROC AUC over the repeats that had both classes (nil if none had).
        public let auc: Double?
        /// Standard deviation of the AUC over the repeats (0 for one).
        public let aucStd: Double?
        /// Mean accuracy.
        public let accuracy: Double
        /// Standard deviation of the accuracy.
        public let accuracyStd: Double
        /// Held-out pairs per repeat, on average.
        public let pairs: Int
        /// Repeats (splits) averaged.
        public let repeats: Int

        /// The mean and spread of `scores`.
        public init(_ scores: [Score]) {
            func meanStd(_ x: [Double]) -> (Double, Double)? {
                guard !x.isEmpty else { return nil }
                let mean = x.reduce(0, +) / Double(x.count)
                return (mean, (x.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(x.count)).squareRoot())
            }
            let auc = meanStd(scores.compactMap(\.auc)), accuracy = meanStd(scores.map(\.accuracy))
            self.auc = auc?.0
            aucStd = auc?.1
            self.accuracy = accuracy?.0 ?? 0
            accuracyStd = accuracy?.1 ?? 0
            pairs = scores.isEmpty ? 0 : scores.map(\.pairs).reduce(0, +) / scores.count
            repeats = scores.count
        }
    }

    /// Trains the classifier on the training pairs of `users` (vectors per row; width 0 for a
    /// track-only baseline) and item features `item(row, track)`, and scores the held-out pairs.
    public func score(
        users: Representation, itemWidth: Int, options: PairClassifier.Options, item: (_ row: Int, _ track: Int) -> [Float]
    ) -> Score {
        score(users: users, itemWidth: itemWidth, options: options, groups: [{ _ in true }], item: item)[0]
    }

    /// As `score(users:itemWidth:options:item:)`, with one classifier trained once and scored
    /// on each group of held-out users apart (e.g. those who completed onboarding and those who
    /// skipped it); `groups[g](row)` says whether user `row` belongs to group `g`.
    public func score(
        users: Representation, itemWidth: Int, options: PairClassifier.Options, groups: [(Int) -> Bool],
        item: (_ row: Int, _ track: Int) -> [Float]
    ) -> [Score] {
        func set(_ pairs: [Pair]) -> PairSet {
            var s = PairSet(users: users.vectors, userWidth: users.width, itemWidth: itemWidth)
            for p in pairs { s.append(user: p.row, item: item(p.row, p.track), label: p.label) }
            return s
        }
        let classifier = PairClassifier.fit(set(train), options: options)
        return groups.map { inGroup in
            let scored = set(test.filter { inGroup($0.row) })
            let probabilities = classifier.probabilities(scored)
            return Score(
                auc: ROCAUC.auc(scores: probabilities, labels: scored.labels),
                accuracy: ROCAUC.accuracy(scores: probabilities, labels: scored.labels), pairs: scored.count)
        }
    }
}
