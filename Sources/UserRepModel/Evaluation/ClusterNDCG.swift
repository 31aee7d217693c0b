// nDCG@k of exact cosine neighbourhoods against known clusters of users (paper 5.3, Table 4).
import Foundation

/// How well a vector space puts users of the same cluster next to each other: for each user, the
/// k nearest other users by cosine similarity (exact, by BLAS), relevance 1 for a neighbour of the
/// same cluster; nDCG@k is the mean over users of DCG / ideal DCG.
public enum ClusterNDCG {
    /// Per-user nDCG@k and their mean. `vectors` is `rows × dim` row major; `clusters[i]` is user
    /// `i`'s cluster, nil to leave the user out (neither scored nor a neighbour). Users alone in
    /// their cluster are not scored (their ideal DCG is 0). Ties in similarity go to the lower index.
    public static func ndcg(vectors: [Float], dim: Int, clusters: [Int?], k: Int, threads: Int = 1) -> (mean: Double, scored: Int) {
        let members = clusters.indices.filter { clusters[$0] != nil }
        let n = members.count
        guard n > 1, k >= 1 else { return (0, 0) }
        // Unit rows of the users that take part (a zero vector stays zero: similarity 0 to all).
        var unit = [Float](repeating: 0, count: n * dim)
        for (r, u) in members.enumerated() {
            var norm: Double = 0
            for j in 0..<dim { norm += Double(vectors[u * dim + j]) * Double(vectors[u * dim + j]) }
            let scale = norm > 0 ? Float(1 / norm.squareRoot()) : 0
            for j in 0..<dim { unit[r * dim + j] = vectors[u * dim + j] * scale }
        }
        let size = members.reduce(into: [Int: Int]()) { size, u in if let c = clusters[u] { size[c, default: 0] += 1 } }
        let discounts = (0..<k).map { 1 / log2(Double($0) + 2) }
        // Blocks of 512 users, each one single-threaded GEMM, spread over `threads` threads: the
        // similarities (and so the neighbours at near-ties) do not depend on the thread count, as
        // they did with one multi-threaded GEMM per block.
        BLASMatrix.setThreads(1)
        let block = 512
        var perUser = [Double](repeating: -1, count: n)
        unit.withUnsafeBufferPointer { all in
            perUser.withUnsafeMutableBufferPointer { scores in
                let out = DisjointWrites(scores)
                let rowsView = SharedReads(all)
                ParallelLoop.run(count: ParallelLoop.chunkCount(count: n, chunk: block), threads: threads) { next in
                    let all = rowsView.buffer
                    var similarity = [Float](repeating: 0, count: block * n)
                    while let b = next() {
                        let start = b * block
                        let rows = min(block, n - start)
                        similarity.withUnsafeMutableBufferPointer { s in
                            BLASMatrix.gemm(
                                transA: false, transB: true, m: rows, n: n, k: dim, UnsafeBufferPointer(rebasing: all[(start * dim)...]),
                                lda: dim, all, ldb: dim, beta: 0, s, ldc: n)
                        }
                        for r in 0..<rows {
                            let me = start + r
                            guard let cluster = clusters[members[me]], let count = size[cluster], count > 1 else { continue }
                            let top = topK(similarity, row: r, width: n, excluding: me, k: k)
                            var dcg = 0.0
                            for (rank, other) in top.enumerated() where clusters[members[other]] == cluster { dcg += discounts[rank] }
                            let ideal = discounts.prefix(min(k, count - 1)).reduce(0, +)
                            out.buffer[me] = dcg / ideal
                        }
                    }
                }
            }
        }
        let scoredValues = perUser.filter { $0 >= 0 }
        return (scoredValues.isEmpty ? 0 : scoredValues.reduce(0, +) / Double(scoredValues.count), scoredValues.count)
    }

    /// The `k` columns of `row` with the highest values (ties: lower column first), `excluding` one.
    static func topK(_ s: [Float], row: Int, width: Int, excluding: Int, k: Int) -> [Int] {
        var best: [(value: Float, column: Int)] = []
        best.reserveCapacity(k + 1)
        let base = row * width
        func better(_ a: (value: Float, column: Int), _ b: (value: Float, column: Int)) -> Bool {
            a.value > b.value || (a.value == b.value && a.column < b.column)
        }
        for c in 0..<width where c != excluding {
            let candidate = (value: s[base + c], column: c)
            if best.count == k, let last = best.last, !better(candidate, last) { continue }
            var at = best.count
            while at > 0 && better(candidate, best[at - 1]) { at -= 1 }
            best.insert(candidate, at: at)
            if best.count > k { best.removeLast() }
        }
        return best.map(\.column)
    }
}
