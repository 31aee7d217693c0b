// Element-wise activation functions an encoder layer may use.
import Foundation

/// A layer's activation function.
public enum Activation: String, Sendable, CaseIterable {
    /// Scaled exponential linear unit (the paper's choice).
    case selu
    /// Rectified linear unit.
    case relu
    /// Hyperbolic tangent.
    case tanh
    /// Identity.
    case linear

    /// SELU's λ (Klambauer et al. 2017).
    public static let seluScale: Float = 1.0507009873554804934193349852946
    /// SELU's α.
    public static let seluAlpha: Float = 1.6732632423543772848170429916717

    /// Parses a manifest name, with an error listing the supported ones.
    public init(named name: String) throws {
        guard let value = Activation(rawValue: name.lowercased()) else {
            throw ModelError("unknown activation '\(name)' (supported: \(Activation.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        self = value
    }

    /// Applies the activation to one value.
    @inlinable
    public func apply(_ x: Float) -> Float {
        switch self {
        case .selu: return x > 0 ? Activation.seluScale * x : Activation.seluScale * Activation.seluAlpha * (expf(x) - 1)
        case .relu: return x > 0 ? x : 0
        case .tanh: return tanhf(x)
        case .linear: return x
        }
    }

    /// Applies the activation in place; SELU runs eight lanes at a time.
    public func apply(_ values: UnsafeMutableBufferPointer<Float>) {
        switch self {
        case .linear:
            return
        case .selu:
            let lanes = values.count / 8 * 8
            let raw = UnsafeMutableRawBufferPointer(values)
            var i = 0
            while i < lanes {
                let x = raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
                let negative = Activation.seluScale * Activation.seluAlpha * (FastMath.exp(x) - 1)
                let y = (Activation.seluScale * x).replacing(with: negative, where: x .<= 0)
                raw.storeBytes(of: y, toByteOffset: i * 4, as: SIMD8<Float>.self)
                i += 8
            }
            for j in lanes..<values.count { values[j] = apply(values[j]) }
        default:
            for i in values.indices { values[i] = apply(values[i]) }
        }
    }
}
