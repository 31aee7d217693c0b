// Training numerics against independent double-precision recomputations: finite differences for
// every gradient (each layer, SELU, alpha dropout, both losses), a scalar Adam.
import Foundation
import Testing
@testable import UserRepModel

/// A plain double-precision forward pass and loss, sharing nothing with `Autoencoder.forward`.
struct NaiveNetwork {
    var sizes: [Int]
    var selu: [Bool]
    var weights: [[Double]]
    var biases: [[Double]]
    /// Per layer, per row, per unit: 1 kept, 0 dropped (nil: no dropout on that layer).
    var masks: [[Double]?]
    var dropout: (a: Double, b: Double)

    init(_ net: Autoencoder, masks: [[Double]?], dropout: AlphaDropout?) {
        sizes = net.sizes
        selu = net.selu
        weights = net.weights.map { $0.map(Double.init) }
        biases = net.biases.map { $0.map(Double.init) }
        self.masks = masks
        self.dropout = (Double(dropout?.a ?? 1), Double(dropout?.b ?? 0))
    }

    /// The loss of reconstructing `target` (default: the input itself) from the input `x`.
    func loss(_ x: [Double], target: [Double]? = nil, rows: Int, kind: ReconstructionLoss) -> Double {
        let t = target ?? x
        let lambda = 1.0507009873554805, alpha = 1.6732632423543772
        var a = x
        for l in 0..<(sizes.count - 1) {
            let n = sizes[l], out = sizes[l + 1]
            var y = [Double](repeating: 0, count: rows * out)
            for r in 0..<rows {
                for o in 0..<out {
                    var z = biases[l][o]
                    for k in 0..<n { z += weights[l][o * n + k] * a[r * n + k] }
                    var v = selu[l] ? (z > 0 ? lambda * z : lambda * alpha * (exp(z) - 1)) : z
                    if let mask = masks[l] {
                        v = dropout.a * (mask[r * out + o] == 1 ? v : -lambda * alpha) + dropout.b
                    }
                    y[r * out + o] = v
                }
            }
            a = y
        }
        let d = sizes[0]
        var total = 0.0
        for r in 0..<rows {
            var sq = 0.0
            for k in 0..<d { sq += (a[r * d + k] - t[r * d + k]) * (a[r * d + k] - t[r * d + k]) }
            total += kind == .l2 ? sq.squareRoot() : sq / Double(d)
        }
        return total / Double(rows)
    }
}

@Suite struct AutoencoderGradientTests {
    /// Analytic gradients of a small network against central differences of the naive loss. With
    /// `masking`, every third input is set to 0 (as `train --input-dropout` does) and the loss
    /// compares the reconstruction with the clean input.
    func check(loss kind: ReconstructionLoss, dropoutRate: Float, masking: Bool = false) {
        let net = Autoencoder(encoder: [6, 5, 3], seed: 9)
        let rows = 4
        var rng = SplitMix64(seed: 3)
        let clean = (0..<(rows * 6)).map { _ in rng.nextGaussian() }
        let x = clean.indices.map { masking && $0 % 3 == 0 ? 0 : clean[$0] }
        var ws = AutoencoderWorkspace(network: net, rows: rows)
        ws.withInput { buffer in for i in x.indices { buffer[i] = x[i] } }
        let dropout = dropoutRate > 0 ? AlphaDropout(rate: dropoutRate) : nil
        var masksRng = SplitMix64(seed: 5)
        net.forward(rows: rows, workspace: &ws, dropout: dropout, rng: &masksRng)
        var outputGrad = [Float](repeating: 0, count: rows * 6)
        let analyticLoss = clean.withUnsafeBufferPointer { xb in
            ws.a[net.layerCount].withUnsafeBufferPointer { yb in
                outputGrad.withUnsafeMutableBufferPointer { g in
                    kind.evaluate(reconstruction: yb, target: xb, rows: rows, width: 6, gradient: g)
                }
            }
        }
        var grads = AutoencoderGradients(zeroFor: net)
        outputGrad.withUnsafeBufferPointer { g in
            net.backward(rows: rows, workspace: &ws, outputGradient: g, dropout: dropout, gradients: &grads)
        }

        let masks: [[Double]?] = (0..<net.layerCount).map { l in
            dropout != nil && net.selu[l] && l < net.layerCount - 1 ? ws.keep[l].prefix(rows * net.sizes[l + 1]).map(Double.init) : nil
        }
        let naive = NaiveNetwork(net, masks: masks, dropout: dropout)
        let xd = x.map(Double.init), cd = clean.map(Double.init)
        #expect(
            abs(naive.loss(xd, target: cd, rows: rows, kind: kind) - analyticLoss) <= 1e-5 * max(1, abs(analyticLoss)),
            "forward pass and loss agree")
        let h = 1e-6
        var worst = 0.0
        var dropped = 0
        /// Central difference of the naive loss in one parameter, against its analytic gradient.
        func relativeError(_ analytic: Float, _ nudge: (inout NaiveNetwork, Double) -> Void) -> Double {
            var plus = naive, minus = naive
            nudge(&plus, h)
            nudge(&minus, -h)
            let numeric = (plus.loss(xd, target: cd, rows: rows, kind: kind) - minus.loss(xd, target: cd, rows: rows, kind: kind)) / (2 * h)
            return abs(Double(analytic) - numeric) / max(abs(numeric), 1e-2)
        }
        for l in 0..<net.layerCount {
            for i in net.weights[l].indices { worst = max(worst, relativeError(grads.weights[l][i]) { $0.weights[l][i] += $1 }) }
            for i in net.biases[l].indices { worst = max(worst, relativeError(grads.biases[l][i]) { $0.biases[l][i] += $1 }) }
            dropped += masks[l].map { $0.filter { $0 == 0 }.count } ?? 0
        }
        #expect(worst <= 1e-4, "\(kind) dropout \(dropoutRate) masking \(masking): largest relative gradient error \(worst)")
        if dropoutRate > 0 { #expect(dropped > 0, "the dropout case dropped some units") }
    }

    @Test(arguments: ReconstructionLoss.allCases, [Float(0), 0.3])
    func analyticGradientsEqualFiniteDifferences(loss: ReconstructionLoss, dropout: Float) { check(loss: loss, dropoutRate: dropout) }

    /// A masked input reconstructing the clean one (a denoising autoencoder's training step).
    @Test(arguments: ReconstructionLoss.allCases)
    func gradientsWithAMaskedInputEqualFiniteDifferences(loss: ReconstructionLoss) {
        check(loss: loss, dropoutRate: 0.3, masking: true)
    }

    @Test func oneAdamStepEqualsTheScalarUpdate() {
        var net = Autoencoder(encoder: [3, 2], seed: 4)
        let before = net
        var grads = AutoencoderGradients(zeroFor: net)
        var rng = SplitMix64(seed: 8)
        for l in grads.weights.indices {
            for i in grads.weights[l].indices { grads.weights[l][i] = rng.nextGaussian() }
            for i in grads.biases[l].indices { grads.biases[l][i] = rng.nextGaussian() }
        }
        var adam = Adam(for: net, learningRate: 0.01)
        adam.update(&net, with: grads)
        adam.update(&net, with: grads)
        // Two steps of the textbook update in double precision, the same gradient each time.
        func scalar(_ p: Float, _ g: Float) -> Double {
            var p = Double(p), m = 0.0, v = 0.0
            let g = Double(g)
            for t in 1...2 {
                m = 0.9 * m + 0.1 * g
                v = 0.999 * v + 0.001 * g * g
                let mh = m / (1 - pow(0.9, Double(t))), vh = v / (1 - pow(0.999, Double(t)))
                p -= 0.01 * mh / (vh.squareRoot() + 1e-8)
            }
            return p
        }
        for l in net.weights.indices {
            for i in net.weights[l].indices {
                #expect(abs(Double(net.weights[l][i]) - scalar(before.weights[l][i], grads.weights[l][i])) <= 1e-6)
            }
            for i in net.biases[l].indices {
                #expect(abs(Double(net.biases[l][i]) - scalar(before.biases[l][i], grads.biases[l][i])) <= 1e-6)
            }
        }
    }

    @Test func alphaDropoutKeepsZeroMeanUnitVarianceInputsStandardized() {
        let d = AlphaDropout(rate: 0.1)
        var rng = SplitMix64(seed: 1)
        var sum = 0.0, sq = 0.0
        let n = 200_000
        for _ in 0..<n {
            // SELU's fixed point: standard normal pre-activations give zero-mean unit-variance outputs.
            let y = Double(SELU.value(rng.nextGaussian()))
            let v = Double(d.a) * (rng.nextUnit() >= 0.1 ? y : Double(SELU.saturation)) + Double(d.b)
            sum += v
            sq += v * v
        }
        let mean = sum / Double(n), variance = sq / Double(n) - mean * mean
        #expect(abs(mean) < 0.02 && abs(variance - 1) < 0.03, "mean \(mean), variance \(variance)")
    }
}
