// Compact binary encoding of UserState for the state store and (later) the changelog.
import UserRepModel

/// Why stored bytes could not be decoded into a `UserState`.
public struct StateCorruption: Error, Sendable, CustomStringConvertible {
    /// What was wrong with the bytes.
    public let message: String
    public var description: String { message }

    /// Creates an error with a message that says what was wrong.
    public init(message: String) { self.message = message }
}

/// Encodes `UserState` for the store and the changelog (`schemas/state-changelog.md`) as:
/// version u8 (3), sequence u64, listens u64, newest event time i64, tile reference time i64,
/// applied listens offset i64, applied onboarding offset i64, the profile (signup i64 or
/// i64.min, picks time i64, country time i64, country, artists, languages as u16-length strings
/// and u16-counted lists; country length 0xFFFF = none), width u16, tile count u16, per tile
/// (start i32, level u8, count u32), then all tile sums as f32; little endian throughout.
public enum UserStateCodec {
    /// Format version written by this build.
    public static let version: UInt8 = 3
    static let headerSize = 1 + 8 + 8 + 8 + 8 + 8 + 8 + 2 + 2
    static let tileHeaderSize = 4 + 1 + 4

    /// Serializes a state into `out` (cleared first).
    public static func encode(_ state: UserState, into out: inout [UInt8]) {
        out.removeAll(keepingCapacity: true)
        append(state, to: &out)
    }

    /// Appends a state's serialization to `out`.
    public static func append(_ state: UserState, to out: inout [UInt8]) {
        let t = state.tiles
        out.reserveCapacity(out.count + headerSize + t.tileCount * (tileHeaderSize + 4 * t.width))
        out.append(version)
        append(state.updateSequence, to: &out)
        append(state.totalListens, to: &out)
        append(UInt64(bitPattern: state.newestEventTimeMs), to: &out)
        append(UInt64(bitPattern: t.referenceTimeMs), to: &out)
        append(UInt64(bitPattern: state.appliedOffsets[0]), to: &out)
        append(UInt64(bitPattern: state.appliedOffsets[1]), to: &out)
        let p = state.profile
        append(UInt64(bitPattern: p.signupTimeMs ?? Int64.min), to: &out)
        append(UInt64(bitPattern: p.picksTimeMs), to: &out)
        append(UInt64(bitPattern: p.countryTimeMs), to: &out)
        if let country = p.country { appendString(country, to: &out) } else { append(UInt16.max, to: &out) }
        for list in [p.artists, p.languages] {
            append(UInt16(list.count), to: &out)
            for item in list { appendString(item, to: &out) }
        }
        append(UInt16(t.width), to: &out)
        append(UInt16(t.tileCount), to: &out)
        for i in 0..<t.tileCount {
            append(UInt32(bitPattern: t.starts[i]), to: &out)
            out.append(t.levels[i].rawValue)
            append(t.counts[i], to: &out)
        }
        t.sums.withUnsafeBytes { raw in
            // Floats are stored in the machine's order, which is little endian on every platform we ship.
            out.append(contentsOf: raw)
        }
    }

    /// Serializes a state.
    public static func encode(_ state: UserState) -> [UInt8] {
        var out: [UInt8] = []
        encode(state, into: &out)
        return out
    }

    /// Decodes bytes written by `encode`, checking every length.
    public static func decode(_ bytes: UnsafeRawBufferPointer, expectedWidth: Int) throws -> UserState {
        var reader = ByteReader(bytes: bytes)
        let v = try reader.u8()
        guard v == version else { throw StateCorruption(message: "user state version \(v) is not supported (expected \(version))") }
        let sequence = try reader.u64()
        let listens = try reader.u64()
        let newest = Int64(bitPattern: try reader.u64())
        let refTime = Int64(bitPattern: try reader.u64())
        let applied = SIMD2(Int64(bitPattern: try reader.u64()), Int64(bitPattern: try reader.u64()))
        var profile = UserProfile()
        let signup = Int64(bitPattern: try reader.u64())
        profile.signupTimeMs = signup == Int64.min ? nil : signup
        profile.picksTimeMs = Int64(bitPattern: try reader.u64())
        profile.countryTimeMs = Int64(bitPattern: try reader.u64())
        let countryLength = try reader.u16()
        profile.country = countryLength == UInt16.max ? nil : try reader.bytes(Int(countryLength))
        for list in [\UserProfile.artists, \UserProfile.languages] {
            let n = Int(try reader.u16())
            var items: [[UInt8]] = []
            for _ in 0..<n { items.append(try reader.bytes(Int(try reader.u16()))) }
            profile[keyPath: list] = items
        }
        let width = Int(try reader.u16())
        let tileCount = Int(try reader.u16())
        guard width == expectedWidth else {
            throw StateCorruption(message: "user state holds \(width)-float embeddings but the model uses \(expectedWidth)")
        }
        var starts: [Int32] = [], levels: [TileLevel] = [], counts: [UInt32] = []
        for _ in 0..<tileCount {
            starts.append(Int32(bitPattern: try reader.u32()))
            let raw = try reader.u8()
            guard let level = TileLevel(rawValue: raw) else { throw StateCorruption(message: "unknown tile level \(raw)") }
            levels.append(level)
            counts.append(try reader.u32())
        }
        let floatBytes = tileCount * width * 4
        guard reader.remaining == floatBytes else {
            throw StateCorruption(message: "user state has \(reader.remaining) bytes of sums, expected \(floatBytes)")
        }
        var sums = [Float](repeating: 0, count: tileCount * width)
        sums.withUnsafeMutableBytes { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[reader.position...])) }
        guard let tiles = WindowTiles(width: width, referenceTimeMs: refTime, starts: starts, levels: levels, counts: counts, sums: sums) else {
            throw StateCorruption(message: "inconsistent tile arrays")
        }
        var state = UserState(updateSequence: sequence, totalListens: listens, newestEventTimeMs: newest, tiles: tiles)
        state.profile = profile
        state.appliedOffsets = applied
        return state
    }

    private static func appendString(_ bytes: [UInt8], to out: inout [UInt8]) {
        let n = min(bytes.count, Int(UInt16.max - 1))
        append(UInt16(n), to: &out)
        out.append(contentsOf: bytes.prefix(n))
    }

    private static func append<T: FixedWidthInteger>(_ value: T, to out: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) }
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
