// The paper's autoencoder (section 3.3): SELU dense layers, encoder d → … → code, mirrored decoder.
import Foundation

/// SELU's constants (Klambauer et al. 2017), as the worker's encoder uses them.
public enum SELU {
    /// λ.
    public static let lambda: Float = 1.0507009873554805
    /// α.
    public static let alpha: Float = 1.6732632423543772
    /// The value alpha dropout sets dropped units to: SELU's negative saturation, −λα.
    public static let saturation: Float = -lambda * alpha

    /// SELU(z).
    @inline(__always) public static func value(_ z: Float) -> Float { z > 0 ? lambda * z : lambda * alpha * (expf(z) - 1) }
}

/// Which reconstruction loss a network is trained on.
public enum ReconstructionLoss: String, Sendable, CaseIterable {
    /// The paper's equation 2: the mean over users of ‖x − x̂‖ (the Euclidean norm, not squared).
    case l2
    /// The mean over users and features of (x − x̂)².
    case mse

    /// The loss of `rows` rows and its gradient with respect to the reconstruction (written to
    /// `gradient`, same shape), averaged over rows.
    func evaluate(
        reconstruction y: UnsafeBufferPointer<Float>, target x: UnsafeBufferPointer<Float>, rows: Int, width: Int,
        gradient: UnsafeMutableBufferPointer<Float>?
    ) -> Double {
        var total = 0.0
        for r in 0..<rows {
            let o = r * width
            var sq = 0.0
            for k in 0..<width {
                let d = Double(y[o + k] - x[o + k])
                sq += d * d
            }
            switch self {
            case .l2:
                let norm = sq.squareRoot()
                total += norm
                if let gradient {
                    let scale = norm > 0 ? Float(1 / (norm * Double(rows))) : 0
                    for k in 0..<width { gradient[o + k] = (y[o + k] - x[o + k]) * scale }
                }
            case .mse:
                total += sq / Double(width)
                if let gradient {
                    let scale = Float(2 / (Double(width) * Double(rows)))
                    for k in 0..<width { gradient[o + k] = (y[o + k] - x[o + k]) * scale }
                }
            }
        }
        return total / Double(max(rows, 1))
    }
}

/// A stack of dense layers: `sizes[0] → sizes[1] → … → sizes.last`. Layer `l` maps `sizes[l]` to
/// `sizes[l + 1]`; `selu[l]` says whether SELU follows it (else it is linear). Weights are row
/// major `[out, in]`, as the manifest's `encoder.{i}.weight` tensors.
public struct Autoencoder: Sendable, Equatable {
    /// Layer widths, input first.
    public let sizes: [Int]
    /// Whether layer `l` is followed by SELU.
    public let selu: [Bool]
    /// Number of layers that form the encoder (the rest is the decoder).
    public let encoderLayers: Int
    /// Weights of each layer, `[out × in]` row major.
    public var weights: [[Float]]
    /// Biases of each layer.
    public var biases: [[Float]]

    /// An encoder `encoder` (input first, code last) with its mirror as decoder; SELU on every
    /// hidden layer, linear code and output. LeCun-normal weights (variance 1/fan-in), zero biases.
    public init(encoder: [Int], seed: UInt64) {
        precondition(encoder.count >= 2)
        let sizes = encoder + encoder.dropLast().reversed()
        let layers = sizes.count - 1
        var selu = [Bool](repeating: true, count: layers)
        selu[encoder.count - 2] = false
        selu[layers - 1] = false
        var rng = SplitMix64(seed: seed)
        self.sizes = sizes
        self.selu = selu
        encoderLayers = encoder.count - 1
        weights = (0..<layers).map { l in
            let scale = 1 / Float(sizes[l]).squareRoot()
            return (0..<(sizes[l] * sizes[l + 1])).map { _ in rng.nextGaussian() * scale }
        }
        biases = (0..<layers).map { [Float](repeating: 0, count: sizes[$0 + 1]) }
    }

    /// Layers.
    public var layerCount: Int { sizes.count - 1 }
    /// Input (and output) width.
    public var inputSize: Int { sizes[0] }
    /// Code width.
    public var codeSize: Int { sizes[encoderLayers] }
}

/// Alpha dropout (Klambauer et al.): drops a unit to SELU's saturation value and applies the
/// affine map that keeps mean and variance, so the network stays self-normalizing.
public struct AlphaDropout: Sendable, Equatable {
    /// Probability of dropping a unit.
    public let rate: Float
    /// Scale applied after dropping.
    public let a: Float
    /// Shift applied after dropping.
    public let b: Float

    /// Alpha dropout with drop probability `rate` (0 disables it).
    public init(rate: Float) {
        self.rate = rate
        let keep = 1 - rate, s = SELU.saturation
        a = rate > 0 ? 1 / (keep + s * s * keep * rate).squareRoot() : 1
        b = rate > 0 ? -a * rate * s : 0
    }
}

/// Buffers for one mini-batch of forward and backward passes of a network.
public struct AutoencoderWorkspace {
    /// Pre-activations of each layer, `rows × sizes[l + 1]`; after `forward`, SELU layers hold
    /// SELU's derivative there instead.
    var z: [[Float]]
    /// Activations: `a[0]` is the input, `a[l + 1]` layer `l`'s output (after dropout).
    var a: [[Float]]
    /// Kept (1) or dropped (0) per unit of each layer's output, when dropout ran.
    var keep: [[Float]]
    /// Gradient with respect to the current layer's output, and a second buffer to swap with.
    var grad: [Float], nextGrad: [Float]
    /// Rows the buffers hold.
    public let rows: Int

    /// Buffers for up to `rows` rows of `network`.
    public init(network: Autoencoder, rows: Int) {
        self.rows = rows
        let widest = network.sizes.max() ?? 0
        z = (0..<network.layerCount).map { [Float](repeating: 0, count: rows * network.sizes[$0 + 1]) }
        a = network.sizes.map { [Float](repeating: 0, count: rows * $0) }
        keep = (0..<network.layerCount).map { [Float](repeating: 1, count: rows * network.sizes[$0 + 1]) }
        grad = [Float](repeating: 0, count: rows * widest)
        nextGrad = grad
    }

    /// The input rows (`rows × inputSize`), to fill before `forward`.
    public mutating func withInput<R>(_ body: (UnsafeMutableBufferPointer<Float>) throws -> R) rethrows -> R {
        try a[0].withUnsafeMutableBufferPointer { try body($0) }
    }

    /// The activations of the last forward pass after `layer` layers (0: the input; the encoder's
    /// layer count: the code), row major.
    public func activations(layer: Int) -> [Float] { a[layer] }

    /// The reconstruction of the last forward pass.
    public func output(rows: Int, width: Int) -> ArraySlice<Float> { a[a.count - 1][0..<(rows * width)] }
}

/// Gradients of every parameter of a network, shaped as its weights and biases.
public struct AutoencoderGradients: Sendable, Equatable {
    /// d loss / d weights of each layer.
    public var weights: [[Float]]
    /// d loss / d biases of each layer.
    public var biases: [[Float]]

    /// Zero gradients for `network`.
    public init(zeroFor network: Autoencoder) {
        weights = network.weights.map { [Float](repeating: 0, count: $0.count) }
        biases = network.biases.map { [Float](repeating: 0, count: $0.count) }
    }
}

extension Autoencoder {
    /// Forward pass over the first `rows` rows of `ws`'s input. With `dropout` and a random
    /// source, hidden SELU layers are alpha-dropped (training); without, the pass is exact.
    public func forward(rows: Int, workspace ws: inout AutoencoderWorkspace, dropout: AlphaDropout? = nil, rng: inout SplitMix64) {
        precondition(rows <= ws.rows)
        for l in 0..<layerCount {
            let n = sizes[l], out = sizes[l + 1], count = rows * out
            let isSELU = selu[l]
            weights[l].withUnsafeBufferPointer { w in
                biases[l].withUnsafeBufferPointer { b in
                    ws.a[l].withUnsafeBufferPointer { x in
                        ws.z[l].withUnsafeMutableBufferPointer { z in
                            for r in 0..<rows { for o in 0..<out { z[r * out + o] = b[o] } }
                            BLASMatrix.gemm(transA: false, transB: true, m: rows, n: out, k: n, x, lda: n, w, ldb: n, beta: 1, z, ldc: out)
                        }
                    }
                }
            }
            // SELU's output, and its derivative kept in `z` for the backward pass (from the
            // output: λα·e^z = SELU(z) + λα for z ≤ 0), so no exponential is taken twice.
            ws.z[l].withUnsafeMutableBufferPointer { z in
                ws.a[l + 1].withUnsafeMutableBufferPointer { y in
                    if isSELU {
                        let la = SELU.lambda * SELU.alpha
                        for i in 0..<count {
                            let v = SELU.value(z[i])
                            y[i] = v
                            z[i] = z[i] > 0 ? SELU.lambda : v + la
                        }
                    } else {
                        for i in 0..<count { y[i] = z[i] }
                    }
                }
            }
            if isSELU, let dropout, dropout.rate > 0, l < layerCount - 1 {
                ws.keep[l].withUnsafeMutableBufferPointer { keep in
                    ws.a[l + 1].withUnsafeMutableBufferPointer { y in
                        for i in 0..<count {
                            let kept = rng.nextUnit() >= Double(dropout.rate)
                            keep[i] = kept ? 1 : 0
                            y[i] = dropout.a * (kept ? y[i] : SELU.saturation) + dropout.b
                        }
                    }
                }
            } else {
                ws.keep[l].withUnsafeMutableBufferPointer { keep in for i in 0..<count { keep[i] = 1 } }
            }
        }
    }

    /// Backward pass after `forward` on the same workspace: `outputGradient` (d loss / d output,
    /// `rows × inputSize`) is propagated, and each parameter's gradient written to `gradients`.
    /// `dropout` must be what `forward` ran with.
    public func backward(
        rows: Int, workspace ws: inout AutoencoderWorkspace, outputGradient: UnsafeBufferPointer<Float>,
        dropout: AlphaDropout?, gradients g: inout AutoencoderGradients
    ) {
        ws.grad.withUnsafeMutableBufferPointer { d in
            _ = d.update(fromContentsOf: outputGradient[0..<(rows * inputSize)])
        }
        for l in stride(from: layerCount - 1, through: 0, by: -1) {
            let n = sizes[l], out = sizes[l + 1], count = rows * out
            let scale = (selu[l] && l < layerCount - 1) ? (dropout.map { $0.rate > 0 ? $0.a : 1 } ?? 1) : 1
            // d loss / d z: through dropout (a · kept) and the activation.
            ws.grad.withUnsafeMutableBufferPointer { d in
                ws.z[l].withUnsafeBufferPointer { z in
                    ws.keep[l].withUnsafeBufferPointer { keep in
                        if selu[l] {
                            // `z` holds SELU's derivative since the forward pass.
                            for i in 0..<count { d[i] *= scale * keep[i] * z[i] }
                        }
                    }
                }
            }
            ws.grad.withUnsafeBufferPointer { d in
                ws.a[l].withUnsafeBufferPointer { x in
                    g.weights[l].withUnsafeMutableBufferPointer { gw in
                        BLASMatrix.gemm(transA: true, transB: false, m: out, n: n, k: rows, d, lda: out, x, ldb: n, beta: 0, gw, ldc: n)
                    }
                }
                g.biases[l].withUnsafeMutableBufferPointer { gb in
                    for o in 0..<out { gb[o] = 0 }
                    for r in 0..<rows {
                        let row = r * out
                        for o in 0..<out { gb[o] += d[row + o] }
                    }
                }
                if l > 0 {
                    weights[l].withUnsafeBufferPointer { w in
                        ws.nextGrad.withUnsafeMutableBufferPointer { dx in
                            BLASMatrix.gemm(
                                transA: false, transB: false, m: rows, n: n, k: out, d, lda: out, w, ldb: n, beta: 0, dx, ldc: n)
                        }
                    }
                }
            }
            if l > 0 { swap(&ws.grad, &ws.nextGrad) }
        }
    }
}
