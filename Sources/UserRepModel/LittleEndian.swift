// Float bits as little-endian bytes, for the file and wire formats that store them.

/// Appends values in little-endian byte order (safetensors, protobuf fixed32).
public enum LittleEndian {
    /// Appends the four bytes of `v`.
    @inline(__always) public static func append(_ v: Float, to out: inout [UInt8]) {
        let bits = v.bitPattern.littleEndian
        out.append(UInt8(truncatingIfNeeded: bits))
        out.append(UInt8(truncatingIfNeeded: bits >> 8))
        out.append(UInt8(truncatingIfNeeded: bits >> 16))
        out.append(UInt8(truncatingIfNeeded: bits >> 24))
    }
}
