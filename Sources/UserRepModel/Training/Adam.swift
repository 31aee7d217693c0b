// Adam (Kingma & Ba 2015) over an autoencoder's parameters.
import Foundation

/// Adam's settings and moment estimates for every parameter of one network.
public struct Adam: Sendable, Equatable {
    /// Step size.
    public var learningRate: Float
    /// Decay of the first moment.
    public let beta1: Float
    /// Decay of the second moment.
    public let beta2: Float
    /// Added to the second moment's root.
    public let epsilon: Float
    /// Steps taken.
    public private(set) var step = 0
    private var m: [[Float]], v: [[Float]]

    /// Adam for `network`'s parameters, moments at zero.
    public init(for network: Autoencoder, learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8) {
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        let shapes = network.weights + network.biases
        m = shapes.map { [Float](repeating: 0, count: $0.count) }
        v = m
    }

    /// One update of every parameter of `network` from `gradients`.
    public mutating func update(_ network: inout Autoencoder, with gradients: AutoencoderGradients) {
        step += 1
        let c1 = 1 - powf(beta1, Float(step)), c2 = 1 - powf(beta2, Float(step))
        let layers = network.layerCount
        for l in 0..<layers {
            Self.apply(&network.weights[l], gradients.weights[l], &m[l], &v[l], lr: learningRate, beta1, beta2, epsilon, c1, c2)
            Self.apply(
                &network.biases[l], gradients.biases[l], &m[layers + l], &v[layers + l], lr: learningRate, beta1, beta2, epsilon, c1, c2)
        }
    }

    static func apply(
        _ p: inout [Float], _ g: [Float], _ m: inout [Float], _ v: inout [Float], lr: Float, _ b1: Float, _ b2: Float, _ eps: Float,
        _ c1: Float, _ c2: Float
    ) {
        // On raw buffers: no uniqueness or bounds checks in the loop, so it vectorizes.
        p.withUnsafeMutableBufferPointer { p in
            m.withUnsafeMutableBufferPointer { m in
                v.withUnsafeMutableBufferPointer { v in
                    g.withUnsafeBufferPointer { g in
                        let step = lr / c1, inverseC2 = 1 / c2
                        for i in 0..<p.count {
                            let gi = g[i]
                            let mi = b1 * m[i] + (1 - b1) * gi
                            let vi = b2 * v[i] + (1 - b2) * gi * gi
                            m[i] = mi
                            v[i] = vi
                            p[i] -= step * mi / ((vi * inverseC2).squareRoot() + eps)
                        }
                    }
                }
            }
        }
    }
}
