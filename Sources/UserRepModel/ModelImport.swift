// A manifest for weights trained elsewhere (PyTorch, …): layers found by tensor names, a preset layout.
import Foundation

/// Writes manifests for existing safetensors weights.
public enum ModelImport {
    /// The feature layouts a model can be imported with.
    public enum Preset: String, Sendable, CaseIterable {
        /// Play counts and mean embeddings per horizon (`ModelManifest.listeningLayout`).
        case listening
        /// `listening` plus country, account age, onboarding picks and device mix (`ModelManifest.contextLayout`).
        case context
    }

    /// The dense layers of `weights`, in order: `prefixes[i].weight` / `.bias` when given, else
    /// every `P.N.weight` (2-D) with a `P.N.bias`, for the one prefix `P` that has them, by `N`.
    public static func layerTensors(_ weights: SafeTensors, prefixes: [String]?) throws -> [ModelManifest.LayerTensors] {
        if let prefixes {
            return try prefixes.map { p in
                let t = ModelManifest.LayerTensors(weight: "\(p).weight", bias: "\(p).bias")
                guard weights.tensors[t.weight] != nil, weights.tensors[t.bias] != nil else {
                    throw ModelError(
                        "the weights have no tensors \(t.weight) and \(t.bias); they hold \(weights.tensors.keys.sorted().prefix(12))")
                }
                return t
            }
        }
        var byPrefix: [String: [(Int, ModelManifest.LayerTensors)]] = [:]
        for (name, tensor) in weights.tensors where name.hasSuffix(".weight") && tensor.shape.count == 2 {
            let stem = String(name.dropLast(".weight".count))
            guard let dot = stem.lastIndex(of: "."), let n = Int(stem[stem.index(after: dot)...]), weights.tensors["\(stem).bias"] != nil
            else { continue }
            byPrefix[String(stem[..<dot]), default: []].append((n, .init(weight: name, bias: "\(stem).bias")))
        }
        guard byPrefix.count == 1, let layers = byPrefix.values.first else {
            throw ModelError(
                byPrefix.isEmpty
                    ? "found no PREFIX.N.weight / PREFIX.N.bias tensors in the weights (they hold \(weights.tensors.keys.sorted().prefix(12))); name the layers with --layers"
                    : "several layer stacks in the weights (\(byPrefix.keys.sorted())); name the encoder's layers with --layers")
        }
        return layers.sorted { $0.0 < $1.0 }.map(\.1)
    }

    /// A manifest for `weights`: layer sizes from the tensor shapes (which must chain), the
    /// preset's layout (whose width must be the first layer's input), and, with `features`, each
    /// imputed group's values set to the mean of the exported rows in which it was not imputed.
    public static func manifest(
        weights: SafeTensors, weightsFile: String, layers: [ModelManifest.LayerTensors], batchID: String, embeddingBatchID: String,
        dims: ModelManifest.EmbeddingDims, preset: Preset, countries: [String], languages: [String], features: FeatureFile.Mapped?,
        priorListens: Float = ModelManifest.defaultPriorListens
    ) throws -> ModelManifest {
        var sizes: [Int] = []
        for (i, t) in layers.enumerated() {
            guard let w = weights.tensors[t.weight], w.shape.count == 2, let b = weights.tensors[t.bias], b.shape == [w.shape[0]] else {
                throw ModelError("layer \(i): \(t.weight) must be [out, in] and \(t.bias) [out]")
            }
            if sizes.isEmpty { sizes.append(w.shape[1]) }
            guard sizes.last == w.shape[1] else {
                throw ModelError("layer \(i) (\(t.weight)) takes \(w.shape[1]) inputs but the layer before gives \(sizes.last ?? 0)")
            }
            sizes.append(w.shape[0])
        }
        var groups =
            preset == .listening
            ? ModelManifest.listeningLayout(dims: dims, priorListens: priorListens)
            : ModelManifest.contextLayout(dims: dims, countries: countries, languages: languages, priorListens: priorListens)
        let width = groups.map(\.size).reduce(0, +)
        guard sizes.first == width else {
            throw ModelError(
                "the weights take \(sizes.first ?? 0) inputs, but the \(preset.rawValue) layout with \(dims.audio)+\(dims.collaborative) dimensions has \(width)"
            )
        }
        if let features {
            guard features.inputSize == width else {
                throw ModelError("the features file has \(features.inputSize) features per row, the layout \(width)")
            }
            groups = imputationMeans(groups, features)
        }
        let isDefault = layers.enumerated().allSatisfy {
            $1.weight == ModelManifest.weightTensor($0) && $1.bias == ModelManifest.biasTensor($0)
        }
        return ModelManifest(
            batchId: batchID, embeddingBatchId: embeddingBatchID, embeddingDims: dims, layers: sizes, activation: Activation.selu.rawValue,
            weights: weightsFile, features: groups, normalization: nil, countries: preset == .context ? countries : nil,
            languages: preset == .context ? languages : nil, onboardingPeriodDays: preset == .context ? 90 : nil,
            tensors: isDefault ? nil : layers)
    }

    /// `groups` with each imputed group's values replaced by the mean over the rows of `features`
    /// in which the group was observed (its imputed indicator is 0); left alone where no row was.
    static func imputationMeans(_ groups: [FeatureGroup], _ features: FeatureFile.Mapped) -> [FeatureGroup] {
        let indicators = groups.first { $0.kind == .imputedIndicators }
        let width = features.inputSize
        return features.withFeatures { x in
            groups.map { g in
                guard g.imputation != nil else { return g }
                let column = indicators.flatMap { ind in ind.covers?.firstIndex(of: g.name).map { ind.offset + $0 } }
                var sums = [Double](repeating: 0, count: g.size)
                var n = 0
                for r in 0..<features.rows {
                    if let column, x[r * width + column] != 0 { continue }
                    for k in 0..<g.size { sums[k] += Double(x[r * width + g.offset + k]) }
                    n += 1
                }
                guard n > 0 else { return g }
                var out = g
                out.imputation = sums.map { Float($0 / Double(n)) }
                return out
            }
        }
    }
}
