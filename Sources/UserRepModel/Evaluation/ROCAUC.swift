// Area under the ROC curve as the Mann–Whitney rank statistic, ties counted as half.

/// Ranking metrics of a scored binary classification.
public enum ROCAUC {
    /// The probability that a random positive scores above a random negative (ties count ½);
    /// nil without at least one positive and one negative. O(n log n) by ranks with tied scores
    /// sharing their average rank.
    public static func auc(scores: [Double], labels: [Bool]) -> Double? {
        precondition(scores.count == labels.count)
        let positives = labels.filter { $0 }.count, negatives = labels.count - positives
        guard positives > 0, negatives > 0 else { return nil }
        let order = scores.indices.sorted { scores[$0] < scores[$1] }
        var rankSum = 0.0
        var i = 0
        while i < order.count {
            var j = i
            while j + 1 < order.count && scores[order[j + 1]] == scores[order[i]] { j += 1 }
            // Ranks i+1 … j+1 are tied: each gets their mean.
            let rank = Double(i + j + 2) / 2
            for k in i...j where labels[order[k]] { rankSum += rank }
            i = j + 1
        }
        let p = Double(positives), n = Double(negatives)
        return (rankSum - p * (p + 1) / 2) / (p * n)
    }

    /// The share of examples on the right side of `threshold` (score ≥ threshold is positive).
    public static func accuracy(scores: [Double], labels: [Bool], threshold: Double = 0.5) -> Double {
        guard !scores.isEmpty else { return 0 }
        return Double(zip(scores, labels).filter { ($0 >= threshold) == $1 }.count) / Double(scores.count)
    }
}
