// Little-endian reading and writing of the state codecs' bytes.

/// Writes little-endian integers and raw bytes into a buffer sized in advance.
struct ByteWriter {
    let bytes: UnsafeMutableRawBufferPointer
    var position = 0

    mutating func put<T: FixedWidthInteger>(_ value: T) {
        bytes.storeBytes(of: value.littleEndian, toByteOffset: position, as: T.self)
        position += MemoryLayout<T>.size
    }

    mutating func put(bytes source: UnsafeRawBufferPointer) {
        UnsafeMutableRawBufferPointer(rebasing: bytes[position..<(position + source.count)]).copyMemory(from: source)
        position += source.count
    }

    /// A u16 length, then at most `UserStateCodec.maxStringBytes` bytes.
    mutating func putString(_ value: [UInt8]) {
        let n = min(value.count, UserStateCodec.maxStringBytes)
        put(UInt16(n))
        value.withUnsafeBytes { put(bytes: UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
    }
}

/// Reads little-endian integers from a buffer, failing cleanly at its end.
struct ByteReader {
    let bytes: UnsafeRawBufferPointer
    var position = 0

    var remaining: Int { bytes.count - position }

    mutating func take<T: FixedWidthInteger>(_: T.Type) throws -> T {
        let size = MemoryLayout<T>.size
        guard remaining >= size else { throw StateCorruption(message: "user state truncated at byte \(position)") }
        defer { position += size }
        return T(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: T.self))
    }

    mutating func bytes(_ n: Int) throws -> [UInt8] {
        guard remaining >= n else { throw StateCorruption(message: "user state truncated at byte \(position)") }
        defer { position += n }
        return Array(bytes[position..<(position + n)])
    }

    mutating func u8() throws -> UInt8 { try take(UInt8.self) }
    mutating func u16() throws -> UInt16 { try take(UInt16.self) }
    mutating func u32() throws -> UInt32 { try take(UInt32.self) }
    mutating func u64() throws -> UInt64 { try take(UInt64.self) }
}
