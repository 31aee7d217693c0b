// The evaluation metrics against brute-force references: AUC by all pairs, nDCG@k by full sorts
// in double precision, and the negative sampler's one rule.
import Foundation
import Testing
@testable import UserRepModel

@Suite struct EvaluationMetricsTests {
    /// AUC by comparing every positive with every negative, ties ½.
    static func pairwiseAUC(_ s: [Double], _ y: [Bool]) -> Double {
        var wins = 0.0, pairs = 0.0
        for i in s.indices where y[i] {
            for j in s.indices where !y[j] {
                pairs += 1
                wins += s[i] > s[j] ? 1 : (s[i] == s[j] ? 0.5 : 0)
            }
        }
        return wins / pairs
    }

    @Test func aucEqualsThePairwiseCountTiesIncluded() throws {
        #expect(ROCAUC.auc(scores: [0.1, 0.4, 0.35, 0.8], labels: [false, false, true, true]) == 0.75)
        #expect(ROCAUC.auc(scores: [1, 1, 1, 1], labels: [true, false, true, false]) == 0.5, "all tied: chance")
        #expect(ROCAUC.auc(scores: [0.2, 0.9], labels: [true, true]) == nil, "no negatives: undefined")
        var rng = SplitMix64(seed: 5)
        for _ in 0..<200 {
            let n = 2 + Int(rng.next() % 40)
            // One decimal: many ties.
            let s = (0..<n).map { _ in (rng.nextUnit() * 10).rounded() / 10 }
            var y = (0..<n).map { _ in rng.nextUnit() < 0.4 }
            y[0] = true
            y[1] = false
            let auc = try #require(ROCAUC.auc(scores: s, labels: y))
            #expect(abs(auc - Self.pairwiseAUC(s, y)) < 1e-12)
        }
        #expect(ROCAUC.accuracy(scores: [0.9, 0.2, 0.6, 0.4], labels: [true, false, false, false]) == 0.75)
    }

    /// nDCG@k by computing every cosine in double precision and sorting all users.
    static func bruteNDCG(_ v: [Float], dim: Int, clusters: [Int?], k: Int) -> Double {
        let users = clusters.indices.filter { clusters[$0] != nil }
        func cos(_ a: Int, _ b: Int) -> Double {
            var dot = 0.0, na = 0.0, nb = 0.0
            for j in 0..<dim {
                dot += Double(v[a * dim + j]) * Double(v[b * dim + j])
                na += Double(v[a * dim + j]) * Double(v[a * dim + j])
                nb += Double(v[b * dim + j]) * Double(v[b * dim + j])
            }
            return na > 0 && nb > 0 ? dot / (na.squareRoot() * nb.squareRoot()) : 0
        }
        var total = 0.0, scored = 0
        for u in users {
            let same = users.filter { $0 != u && clusters[$0] == clusters[u] }.count
            guard same > 0 else { continue }
            let ranked = users.filter { $0 != u }.sorted { a, b in
                let ca = cos(u, a), cb = cos(u, b)
                return ca > cb || (ca == cb && a < b)
            }
            var dcg = 0.0, ideal = 0.0
            for (i, other) in ranked.prefix(k).enumerated() where clusters[other] == clusters[u] { dcg += 1 / log2(Double(i) + 2) }
            for i in 0..<min(k, same) { ideal += 1 / log2(Double(i) + 2) }
            total += dcg / ideal
            scored += 1
        }
        return total / Double(scored)
    }

    @Test func ndcgEqualsTheBruteForceReference() {
        var rng = SplitMix64(seed: 11)
        for trial in 0..<20 {
            let n = 20 + trial, dim = 5
            var v = (0..<(n * dim)).map { _ in rng.nextGaussian() }
            // Duplicated users: exactly tied similarities, broken by index in both.
            for j in 0..<dim { v[3 * dim + j] = v[7 * dim + j] }
            var clusters: [Int?] = (0..<n).map { _ in Int(rng.next() % 3) }
            clusters[0] = nil
            clusters[1] = 9  // alone in its cluster: not scored, but still someone's neighbour
            let got = ClusterNDCG.ndcg(vectors: v, dim: dim, clusters: clusters, k: 5)
            let want = Self.bruteNDCG(v, dim: dim, clusters: clusters, k: 5)
            #expect(abs(got.mean - want) < 1e-9, "trial \(trial): \(got.mean) vs \(want)")
            #expect(got.scored == clusters.indices.filter { i in clusters[i] != nil && clusters[i] != 9 }.count)
        }
    }

    @Test func aClusterOneHotScoresOneAndRandomVectorsScoreNearChance() {
        let n = 400, clusters = 4
        let labels: [Int?] = (0..<n).map { $0 % clusters }
        var oneHot = [Float](repeating: 0, count: n * clusters)
        for u in 0..<n { oneHot[u * clusters + u % clusters] = 1 }
        #expect(ClusterNDCG.ndcg(vectors: oneHot, dim: clusters, clusters: labels, k: 50).mean == 1)
        var rng = SplitMix64(seed: 2)
        let random = (0..<(n * 16)).map { _ in rng.nextGaussian() }
        let chance = ClusterNDCG.ndcg(vectors: random, dim: 16, clusters: labels, k: 50).mean
        // A neighbour is in the same cluster with probability 99/399 ≈ 0.25.
        #expect(chance > 0.18 && chance < 0.32, "random vectors: \(chance)")
    }

    @Test func clusterNDCGIsTheSameOnAnyThreadCount() {
        // Three blocks of users, with near-ties: low-precision vectors repeat neighbours' values.
        let n = 1_300, dim = 24
        var rng = SplitMix64(seed: 5)
        let vectors = (0..<(n * dim)).map { _ in (rng.nextGaussian() * 4).rounded() / 4 }
        let labels: [Int?] = (0..<n).map { $0 % 7 == 0 ? nil : $0 % 5 }
        let one = ClusterNDCG.ndcg(vectors: vectors, dim: dim, clusters: labels, k: 50, threads: 1)
        for threads in [2, 3] {
            let other = ClusterNDCG.ndcg(vectors: vectors, dim: dim, clusters: labels, k: 50, threads: threads)
            #expect(other.mean == one.mean && other.scored == one.scored, "\(threads) threads: \(other) against \(one)")
        }
    }

    @Test func negativesAreNeverPositivesAndAreDistinct() {
        let sampler = NegativeSampler(catalogue: 50)
        var rng = SplitMix64(seed: 4)
        for trial in 0..<300 {
            let positives = Set((0..<(1 + trial % 45)).map { _ in Int(rng.next() % 50) })
            let negatives = sampler.sample(count: positives.count, excluding: positives, rng: &rng)
            #expect(negatives.allSatisfy { !positives.contains($0) && $0 >= 0 && $0 < 50 })
            #expect(Set(negatives).count == negatives.count)
            #expect(negatives.count == min(positives.count, 50 - positives.count))
        }
        var a = SplitMix64(seed: 9), b = SplitMix64(seed: 9)
        #expect(sampler.sample(count: 5, excluding: [1, 2], rng: &a) == sampler.sample(count: 5, excluding: [1, 2], rng: &b))
    }
}

@Suite struct CooccurrenceEmbeddingTests {
    @Test func itemsThatShareHistoriesAreEachOthersNearestNeighbours() throws {
        // Three groups of three items; each history draws from one group, plus one stray item.
        var rng = SplitMix64(seed: 6)
        var histories: [[Int]] = []
        for u in 0..<120 {
            let group = u % 3
            var h = (0..<3).filter { _ in rng.nextUnit() < 0.8 }.map { group * 3 + $0 }
            if rng.nextUnit() < 0.1 { h.append(Int(rng.next() % 9)) }
            histories.append(h)
        }
        let dims = 4
        let e = try CooccurrenceEmbedding.build(histories: histories, items: 10, dims: dims)
        func cos(_ a: Int, _ b: Int) -> Double {
            let dot = (0..<dims).reduce(0.0) { $0 + Double(e[a * dims + $1]) * Double(e[b * dims + $1]) }
            let na = (0..<dims).reduce(0.0) { $0 + Double(e[a * dims + $1] * e[a * dims + $1]) }
            let nb = (0..<dims).reduce(0.0) { $0 + Double(e[b * dims + $1] * e[b * dims + $1]) }
            return dot / (na * nb).squareRoot()
        }
        for i in 0..<9 {
            let ranked = (0..<9).filter { $0 != i }.sorted { cos(i, $0) > cos(i, $1) }
            #expect(Set(ranked.prefix(2)) == Set((0..<3).map { i / 3 * 3 + $0 }.filter { $0 != i }), "item \(i): \(ranked)")
        }
        #expect((0..<dims).allSatisfy { e[9 * dims + $0] == 0 }, "an item in no history gets a zero row")
    }

    @Test func theEigenSolverReconstructsItsMatrix() throws {
        let m: [Double] = [4, 1, 0.5, 1, 3, 0.2, 0.5, 0.2, 2]
        let e = try SymmetricEigen(m, n: 3)
        for i in 0..<3 {
            for j in 0..<3 {
                let v = (0..<3).reduce(0.0) { $0 + e.values[$1] * e.vectors[$1 * 3 + i] * e.vectors[$1 * 3 + j] }
                #expect(abs(v - m[i * 3 + j]) < 1e-12)
            }
        }
        #expect(e.values == e.values.sorted())
    }
}
