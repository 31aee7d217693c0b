// Writes a random-weight model with a valid manifest (`userrep model init`).
import Foundation

/// Creates models with random weights: for the demo, the benchmark and tests, before any training.
public enum ModelFactory {
    /// A manifest and SELU-initialized (LeCun normal) weights for the listening layout.
    public static func random(
        batchID: String, embeddingBatchID: String, dims: ModelManifest.EmbeddingDims,
        hidden: [Int] = [512, 256], outputSize: Int = 120, seed: UInt64 = 1, context: (countries: [String], languages: [String])? = nil,
        priorListens: Float = ModelManifest.defaultPriorListens
    ) -> (manifest: ModelManifest, weights: SafeTensors) {
        let features =
            context.map { ModelManifest.contextLayout(dims: dims, countries: $0.countries, languages: $0.languages, priorListens: priorListens) }
            ?? ModelManifest.listeningLayout(dims: dims, priorListens: priorListens)
        let inputSize = features.reduce(0) { $0 + $1.size }
        let sizes = [inputSize] + hidden + [outputSize]
        var rng = SplitMix64(seed: seed)
        var tensors: [String: SafeTensors.Tensor] = [:]
        for i in 0..<(sizes.count - 1) {
            let fanIn = sizes[i], fanOut = sizes[i + 1]
            let std = Float(1 / Double(fanIn).squareRoot())
            tensors[ModelManifest.weightTensor(i)] = .init(
                shape: [fanOut, fanIn], values: (0..<(fanIn * fanOut)).map { _ in rng.nextGaussian() * std })
            tensors[ModelManifest.biasTensor(i)] = .init(shape: [fanOut], values: [Float](repeating: 0, count: fanOut))
        }
        // Play counts are log-scaled and embeddings roughly unit-scaled; a neutral standardization
        // that still exercises the normalization path.
        tensors["normalization.mean"] = .init(
            shape: [inputSize],
            values: features.flatMap { g in
                [Float](repeating: g.kind == .playCountLog1p ? 2 : 0, count: g.size)
            })
        tensors["normalization.std"] = .init(
            shape: [inputSize],
            values: features.flatMap { g in
                [Float](repeating: g.kind == .playCountLog1p ? 1.5 : 0.5, count: g.size)
            })
        let manifest = ModelManifest(
            batchId: batchID, embeddingBatchId: embeddingBatchID, embeddingDims: dims,
            layers: sizes, activation: Activation.selu.rawValue, weights: "model.safetensors",
            features: features, normalization: .init(mean: "normalization.mean", std: "normalization.std"),
            countries: context?.countries, languages: context?.languages, onboardingPeriodDays: context == nil ? nil : 90)
        return (manifest, SafeTensors(tensors: tensors))
    }

    /// Writes `manifest.json` and the weights file into `directory`; returns the manifest's URL.
    @discardableResult
    public static func write(manifest: ModelManifest, weights: SafeTensors, to directory: URL) throws -> URL {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try weights.serialized().write(to: directory.appendingPathComponent(manifest.weights))
        let url = directory.appendingPathComponent("manifest.json")
        try manifest.encoded().write(to: url)
        return url
    }
}
