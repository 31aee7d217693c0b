// A loaded, validated encoder: manifest + weights, run batched through BLAS.
import Foundation

/// The encoder half of the user-representation autoencoder, ready to run.
public struct EncoderModel: Sendable {
    /// The manifest it was loaded from.
    public let manifest: ModelManifest
    /// The validated input layout.
    public let layout: FeatureLayout
    /// Dense layers from input to output.
    public let layers: [DenseLayer]
    /// Input means (empty when the model takes raw features).
    public let inputMean: [Float]
    /// Reciprocal input standard deviations (empty when the model takes raw features).
    public let inputInverseStd: [Float]

    /// Batch id of the vectors this model produces.
    public var batchID: String { manifest.batchId }
    /// Output vector size.
    public var outputSize: Int { layers.last?.outputs ?? 0 }
    /// Input vector size.
    public var inputSize: Int { layout.inputSize }

    /// Loads `manifest.json` and the weights it names; every inconsistency is a `ModelError`.
    public static func load(manifestURL: URL) throws -> EncoderModel {
        let manifest = try ModelManifest.load(from: manifestURL)
        let weightsURL = URL(fileURLWithPath: manifest.weights, relativeTo: manifestURL.deletingLastPathComponent())
        return try EncoderModel(manifest: manifest, weights: SafeTensors(contentsOf: weightsURL))
    }

    /// Builds a model from a manifest and its tensors, checking every shape.
    public init(manifest: ModelManifest, weights: SafeTensors) throws {
        guard manifest.formatVersion == 1 else {
            throw ModelError("manifest format_version \(manifest.formatVersion) is not supported (this build reads 1)")
        }
        guard !manifest.batchId.isEmpty, !manifest.embeddingBatchId.isEmpty else {
            throw ModelError("manifest batch_id and embedding_batch_id must not be empty")
        }
        guard manifest.layers.count >= 2, manifest.layers.allSatisfy({ $0 > 0 }) else {
            throw ModelError("manifest layers \(manifest.layers) must list at least an input and an output size, all positive")
        }
        guard manifest.embeddingDims.audio > 0, manifest.embeddingDims.collaborative > 0 else {
            throw ModelError("manifest embedding_dims must be positive")
        }
        let hidden = try Activation(named: manifest.activation)
        let output = try Activation(named: manifest.outputActivation ?? "linear")
        let layout = try FeatureLayout(manifest: manifest)

        var layers: [DenseLayer] = []
        for i in 0..<(manifest.layers.count - 1) {
            let inputs = manifest.layers[i], outputs = manifest.layers[i + 1]
            let w = try Self.tensor(weights, ModelManifest.weightTensor(i), shape: [outputs, inputs])
            let b = try Self.tensor(weights, ModelManifest.biasTensor(i), shape: [outputs])
            let activation = i == manifest.layers.count - 2 ? output : hidden
            layers.append(DenseLayer(inputs: inputs, outputs: outputs, weights: w, bias: b, activation: activation))
        }
        var mean: [Float] = [], inverseStd: [Float] = []
        if let norm = manifest.normalization {
            mean = try Self.tensor(weights, norm.mean, shape: [layout.inputSize])
            let std = try Self.tensor(weights, norm.std, shape: [layout.inputSize])
            if let bad = std.firstIndex(where: { !($0 > 0) }) {
                throw ModelError("normalization tensor '\(norm.std)' has non-positive standard deviation \(std[bad]) at input \(bad)")
            }
            inverseStd = std.map { 1 / $0 }
        }
        self.manifest = manifest
        self.layout = layout
        self.layers = layers
        self.inputMean = mean
        self.inputInverseStd = inverseStd
    }

    /// Encodes `rows` input rows (row major, `rows × inputSize`, standardized in place) into
    /// `rows × outputSize` floats.
    public func encode(rows: Int, input: inout [Float]) -> [Float] {
        var timing = EncoderTiming()
        return encode(rows: rows, input: &input, timing: &timing)
    }

    /// Same as `encode(rows:input:)`, adding the time spent per step to `timing`.
    public func encode(rows: Int, input: inout [Float], timing: inout EncoderTiming) -> [Float] {
        var t = DispatchTime.now().uptimeNanoseconds
        func lap(_ slot: inout Double) {
            let now = DispatchTime.now().uptimeNanoseconds
            slot += Double(now - t) / 1e9
            t = now
        }
        precondition(input.count >= rows * inputSize, "input holds fewer than \(rows) rows")
        if !inputMean.isEmpty {
            let n = inputSize
            input.withUnsafeMutableBufferPointer { x in
                for r in 0..<rows {
                    let base = r * n
                    for k in 0..<n { x[base + k] = (x[base + k] - inputMean[k]) * inputInverseStd[k] }
                }
            }
        }
        lap(&timing.normalizeSeconds)
        var current = input
        for layer in layers {
            var next = [Float](repeating: 0, count: rows * layer.outputs)
            current.withUnsafeBufferPointer { x in
                next.withUnsafeMutableBufferPointer { y in
                    BLASMatrix.affine(layer, rows: rows, input: x, out: y)
                    lap(&timing.gemmSeconds)
                    layer.activation.apply(UnsafeMutableBufferPointer(rebasing: y[0..<(rows * layer.outputs)]))
                    lap(&timing.activationSeconds)
                }
            }
            current = next
        }
        return current
    }

    private static func tensor(_ weights: SafeTensors, _ name: String, shape: [Int]) throws -> [Float] {
        guard let t = weights.tensors[name] else {
            throw ModelError("weights are missing tensor '\(name)' (expected shape \(shape))")
        }
        guard t.shape == shape else {
            throw ModelError("tensor '\(name)' has shape \(t.shape) but the manifest requires \(shape)")
        }
        if let bad = t.values.firstIndex(where: { !$0.isFinite }) {
            throw ModelError("tensor '\(name)' holds a non-finite value at index \(bad)")
        }
        return t.values
    }
}

/// Where encoder time goes, for the benchmark.
public struct EncoderTiming: Sendable {
    /// Input standardization.
    public var normalizeSeconds = 0.0
    /// Matrix multiplications.
    public var gemmSeconds = 0.0
    /// Activation functions.
    public var activationSeconds = 0.0

    /// Creates zeroed timings.
    public init() {}
}
