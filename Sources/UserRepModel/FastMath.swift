// Vectorized elementary functions for the encoder's activations.

/// SIMD math that the standard library does only one lane at a time.
public enum FastMath {
    /// `e^x` for eight lanes: Cody–Waite range reduction and a degree-6 polynomial (Cephes expf),
    /// about 1e-7 relative error; inputs are clamped to [-87.3, 88.3] so results stay finite.
    @inlinable
    public static func exp(_ input: SIMD8<Float>) -> SIMD8<Float> {
        // Clamped with masks: the standard library's generic `pointwiseMin`/`pointwiseMax` were
        // not inlined (a call per vector, 0.7% of the encoder's samples beside exp's 3%).
        let high = SIMD8<Float>(repeating: 88.3), low = SIMD8<Float>(repeating: -87.3)
        let x = input.replacing(with: high, where: input .> high).replacing(with: low, where: input .< low)
        // Adding 1.5·2^23 rounds x·log2(e) to the nearest integer, which then sits in the low
        // mantissa bits; both the float n and its integer come out without lane-wise conversions.
        let magic = SIMD8<Float>(repeating: 12_582_912)
        let shifted = x * 1.44269504088896341 + magic
        let n = shifted - magic
        let r = x - n * 0.693359375 + n * 2.12194440e-4
        var p = SIMD8<Float>(repeating: 1.9875691500e-4)
        p = p * r + 1.3981999507e-3
        p = p * r + 8.3334519073e-3
        p = p * r + 4.1665795894e-2
        p = p * r + 1.6666665459e-1
        p = p * r + 5.0000001201e-1
        p = p * (r * r) + r + 1
        let integer = unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- 0x4B40_0000
        let scale = unsafeBitCast((integer &+ 127) &<< 23, to: SIMD8<Float>.self)
        return p * scale
    }
}
