// Collaborative item embeddings from co-occurrence in users' histories: a truncated
// eigen-decomposition of the positive-PMI item–item matrix (`userrep tracks build`).
import Foundation

/// Learns `dims`-wide item embeddings from which items share users' histories, the way the
/// paper's collaborative encoder learns from playlist co-occurrence: PPMI(i, j) = max(0,
/// log(c_ij · C / (c_i · c_j))) over pairs of distinct items in the same history, then the top
/// `dims` eigenvectors of the PPMI matrix, each scaled by the root of its (positive) eigenvalue.
public enum CooccurrenceEmbedding {
    /// `items × dims` row major. `histories` lists each user's items (repeats count once).
    /// Items that co-occur with nothing get zero rows; so do the dimensions beyond the number of
    /// positive eigenvalues.
    public static func build(histories: [[Int]], items: Int, dims: Int) throws -> [Float] {
        precondition(items >= 1 && dims >= 1)
        var pair = [Double](repeating: 0, count: items * items)
        for history in histories {
            let distinct = Array(Set(history.filter { $0 >= 0 && $0 < items })).sorted()
            for a in distinct.indices {
                for b in (a + 1)..<distinct.count {
                    pair[distinct[a] * items + distinct[b]] += 1
                    pair[distinct[b] * items + distinct[a]] += 1
                }
            }
        }
        var marginal = [Double](repeating: 0, count: items)
        for i in 0..<items { for j in 0..<items { marginal[i] += pair[i * items + j] } }
        let total = marginal.reduce(0, +)
        var ppmi = [Double](repeating: 0, count: items * items)
        if total > 0 {
            for i in 0..<items where marginal[i] > 0 {
                for j in 0..<items where pair[i * items + j] > 0 {
                    ppmi[i * items + j] = max(0, log(pair[i * items + j] * total / (marginal[i] * marginal[j])))
                }
            }
        }
        let eigen = try SymmetricEigen(ppmi, n: items)
        var out = [Float](repeating: 0, count: items * dims)
        for d in 0..<min(dims, items) {
            let index = items - 1 - d
            let value = eigen.values[index]
            guard value > 1e-12 else { break }
            let scale = value.squareRoot()
            for i in 0..<items { out[i * dims + d] = Float(eigen.vectors[index * items + i] * scale) }
        }
        return out
    }
}
