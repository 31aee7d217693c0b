// A validated feature layout and the pure function that fills an input row from a user's aggregates.
import Foundation

/// The manifest's feature groups, checked against the embedding dimensions and the input size.
public struct FeatureLayout: Sendable, Equatable {
    /// Groups ordered by offset.
    public let groups: [FeatureGroup]
    /// Total input size.
    public let inputSize: Int
    /// Distinct horizons the layout reads, in first-use order; aggregates are computed for these.
    public let horizons: [Horizon]
    /// Floats per track: audio then collaborative.
    public let dims: ModelManifest.EmbeddingDims

    /// Validates `groups`; every mismatch is reported by group name.
    public init(groups: [FeatureGroup], dims: ModelManifest.EmbeddingDims, inputSize: Int) throws {
        var seen = Set<String>()
        var horizons: [Horizon] = []
        for g in groups {
            guard seen.insert(g.name).inserted else { throw ModelError("feature group '\(g.name)' appears twice") }
            guard FeatureKind.known.contains(g.kind) else {
                throw ModelError("feature group '\(g.name)' has unknown kind '\(g.kind.rawValue)' (known: \(FeatureKind.known.map(\.rawValue).joined(separator: ", ")))")
            }
            guard let name = g.horizon, let horizon = Horizon.named(name) else {
                throw ModelError("feature group '\(g.name)' needs a horizon, one of \(Horizon.all.map(\.name).joined(separator: ", ")); got \(g.horizon ?? "none")")
            }
            if !horizons.contains(horizon) { horizons.append(horizon) }
            let expected: Int
            switch g.kind {
            case .audioMean: expected = dims.audio
            case .collaborativeMean: expected = dims.collaborative
            default: expected = 1
            }
            guard g.size == expected else {
                throw ModelError("feature group '\(g.name)' (\(g.kind.rawValue)) has size \(g.size) but the embedding dimensions require \(expected)")
            }
            if let imputation = g.imputation, imputation.count != g.size {
                throw ModelError("feature group '\(g.name)' has \(imputation.count) imputation values for size \(g.size)")
            }
        }
        let sorted = groups.sorted { $0.offset < $1.offset }
        var next = 0
        for g in sorted {
            guard g.offset == next else {
                throw ModelError(g.offset < next
                    ? "feature group '\(g.name)' at offset \(g.offset) overlaps the previous group ending at \(next)"
                    : "feature layout has a gap: nothing covers inputs \(next)..<\(g.offset) before group '\(g.name)'")
            }
            next += g.size
        }
        guard next == inputSize else {
            throw ModelError("feature layout covers \(next) inputs but the first layer takes \(inputSize)")
        }
        self.groups = sorted
        self.inputSize = inputSize
        self.horizons = horizons
        self.dims = dims
    }

    /// Writes one user's input row. `aggregates[i]` belongs to `horizons[i]`.
    public func fill(row: UnsafeMutableBufferPointer<Float>, aggregates: [HorizonAggregate]) {
        precondition(row.count == inputSize && aggregates.count == horizons.count)
        for g in groups {
            let h = horizons.firstIndex { $0.name == g.horizon } ?? 0
            let agg = aggregates[h]
            switch g.kind {
            case .playCountLog1p:
                row[g.offset] = Float(log1p(Double(agg.count)))
            case .audioMean, .collaborativeMean:
                let source = g.kind == .audioMean ? 0 : dims.audio
                if agg.count == 0 {
                    for k in 0..<g.size { row[g.offset + k] = g.imputation?[k] ?? 0 }
                } else {
                    let scale = 1 / Float(agg.count)
                    for k in 0..<g.size { row[g.offset + k] = agg.sums[source + k] * scale }
                }
            default:
                for k in 0..<g.size { row[g.offset + k] = g.imputation?[k] ?? 0 }
            }
        }
    }
}
