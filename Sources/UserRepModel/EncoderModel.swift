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
        if let names = manifest.tensors, names.count != manifest.layers.count - 1 {
            throw ModelError("manifest tensors names \(names.count) layers but layers \(manifest.layers) has \(manifest.layers.count - 1)")
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
            let w = try Self.tensor(weights, manifest.weightTensorName(i), shape: [outputs, inputs])
            let b = try Self.tensor(weights, manifest.biasTensorName(i), shape: [outputs])
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

    /// Rows encoded per block. A block's layer outputs (512 × 512 floats at most) stay in the
    /// L2 cache from one layer to the next: the reference model runs at 72–75k users/s in blocks
    /// of 512–1024 rows against 55–58k in one 10k-row pass (and 61–64k in blocks of 128).
    public static let blockRows = 512

    /// Encodes `rows` input rows (row major, `rows × inputSize`, standardized in place) into
    /// `rows × outputSize` floats.
    public func encode(rows: Int, input: inout [Float]) -> [Float] {
        var timing = EncoderTiming()
        return encode(rows: rows, input: &input, timing: &timing)
    }

    /// Same as `encode(rows:input:)`, adding the time spent per step to `timing`.
    public func encode(rows: Int, input: inout [Float], timing: inout EncoderTiming) -> [Float] {
        precondition(input.count >= rows * inputSize, "input holds fewer than \(rows) rows")
        var output = [Float](repeating: 0, count: rows * outputSize)
        var scratch = EncoderScratch(model: self, rows: rows)
        input.withUnsafeMutableBufferPointer { x in
            output.withUnsafeMutableBufferPointer { y in
                var start = 0
                while start < rows {
                    let n = min(Self.blockRows, rows - start)
                    encodeBlock(
                        rows: n, input: UnsafeMutableBufferPointer(rebasing: x[(start * inputSize)..<((start + n) * inputSize)]),
                        output: UnsafeMutableBufferPointer(rebasing: y[(start * outputSize)..<((start + n) * outputSize)]),
                        scratch: &scratch, timing: &timing)
                    start += n
                }
            }
        }
        return output
    }

    /// Encodes one block of at most `blockRows` rows: `input` (`rows × inputSize`, standardized
    /// in place) into `output` (`rows × outputSize`). Threads may encode blocks concurrently,
    /// each with its own `scratch`.
    public func encodeBlock(
        rows: Int, input: UnsafeMutableBufferPointer<Float>, output: UnsafeMutableBufferPointer<Float>,
        scratch: inout EncoderScratch, timing: inout EncoderTiming
    ) {
        precondition(rows <= Self.blockRows && input.count >= rows * inputSize && output.count >= rows * outputSize)
        precondition(rows <= scratch.rows, "scratch sized for \(scratch.rows) rows, not \(rows)")
        var t = DispatchTime.now().uptimeNanoseconds
        func lap(_ slot: inout Double) {
            let now = DispatchTime.now().uptimeNanoseconds
            slot += Double(now - t) / 1e9
            t = now
        }
        if !inputMean.isEmpty {
            let n = inputSize
            inputMean.withUnsafeBufferPointer { mean in
                inputInverseStd.withUnsafeBufferPointer { scale in
                    for r in 0..<rows {
                        let base = r * n
                        for k in 0..<n { input[base + k] = (input[base + k] - mean[k]) * scale[k] }
                    }
                }
            }
        }
        lap(&timing.normalizeSeconds)
        scratch.first.withUnsafeMutableBufferPointer { a in
            scratch.second.withUnsafeMutableBufferPointer { b in
                var current = UnsafeBufferPointer(input)
                for (i, layer) in layers.enumerated() {
                    // Hidden layers alternate between the two scratch buffers; the last writes the output.
                    let target = i == layers.count - 1 ? output : (i % 2 == 0 ? a : b)
                    let y = UnsafeMutableBufferPointer(rebasing: target[0..<(rows * layer.outputs)])
                    BLASMatrix.affine(layer, rows: rows, input: current, out: y)
                    lap(&timing.gemmSeconds)
                    layer.activation.apply(y)
                    lap(&timing.activationSeconds)
                    current = UnsafeBufferPointer(y)
                }
            }
        }
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

/// One thread's working memory for `EncoderModel.encodeBlock`: two buffers the hidden layers
/// alternate between, each large enough for a block of the widest layer.
public struct EncoderScratch: Sendable {
    /// Most rows a block may have.
    public let rows: Int
    fileprivate var first: [Float]
    fileprivate var second: [Float]

    /// Scratch for blocks of up to `rows` rows (at most `EncoderModel.blockRows`) of `model`:
    /// small batches need not clear a full block's megabytes.
    public init(model: EncoderModel, rows: Int = EncoderModel.blockRows) {
        self.rows = min(max(rows, 1), EncoderModel.blockRows)
        let widest = model.layers.map(\.outputs).max() ?? 0
        first = [Float](repeating: 0, count: self.rows * widest)
        second = first
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
