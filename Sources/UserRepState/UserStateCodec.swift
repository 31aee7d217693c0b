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
    /// Profile bytes besides its strings: three times, the country length, two list counts.
    static let profileFixedSize = 8 + 8 + 8 + 2 + 2 + 2

    /// Serializes a state into `out` (cleared first).
    public static func encode(_ state: UserState, into out: inout [UInt8]) {
        out.removeAll(keepingCapacity: true)
        append(state, to: &out)
    }

    /// Appends a state's serialization to `out`.
    public static func append(_ state: UserState, to out: inout [UInt8]) {
        let size = encodedSize(state)
        let start = out.count
        // Grow geometrically: growing by exactly one state would copy the whole buffer on every
        // append to a buffer of many states.
        if out.capacity < start + size { out.reserveCapacity(max(start + size, 2 * out.capacity)) }
        out.append(contentsOf: repeatElement(0, count: size))
        out.withUnsafeMutableBytes { write(state, to: UnsafeMutableRawBufferPointer(rebasing: $0[start...])) }
    }

    /// Bytes `state` serializes to.
    public static func encodedSize(_ state: UserState) -> Int {
        let p = state.profile
        func listBytes(_ list: [[UInt8]]) -> Int { list.reduce(0) { $0 + 2 + min($1.count, maxStringBytes) } }
        let strings = (p.country.map { min($0.count, maxStringBytes) } ?? 0) + listBytes(p.artists) + listBytes(p.languages)
        let t = state.tiles
        return headerSize + profileFixedSize + strings + t.tileCount * (tileHeaderSize + 4 * t.width)
    }

    /// Writes `state` into `out`, which must hold exactly `encodedSize(state)` bytes.
    public static func write(_ state: UserState, to out: UnsafeMutableRawBufferPointer) {
        precondition(out.count == encodedSize(state), "buffer does not match the state's size")
        var w = ByteWriter(bytes: out)
        let t = state.tiles
        w.put(version)
        w.put(state.updateSequence)
        w.put(state.totalListens)
        w.put(UInt64(bitPattern: state.newestEventTimeMs))
        w.put(UInt64(bitPattern: t.referenceTimeMs))
        w.put(UInt64(bitPattern: state.appliedOffsets[0]))
        w.put(UInt64(bitPattern: state.appliedOffsets[1]))
        let p = state.profile
        w.put(UInt64(bitPattern: p.signupTimeMs ?? Int64.min))
        w.put(UInt64(bitPattern: p.picksTimeMs))
        w.put(UInt64(bitPattern: p.countryTimeMs))
        if let country = p.country { w.putString(country) } else { w.put(UInt16.max) }
        w.put(UInt16(p.artists.count))
        for item in p.artists { w.putString(item) }
        w.put(UInt16(p.languages.count))
        for item in p.languages { w.putString(item) }
        w.put(UInt16(t.width))
        w.put(UInt16(t.tileCount))
        for i in 0..<t.tileCount {
            w.put(UInt32(bitPattern: t.starts[i]))
            w.put(t.levels[i].rawValue)
            w.put(t.counts[i])
        }
        // Floats are stored in the machine's order, which is little endian on every platform we ship.
        t.sums.withUnsafeBytes { w.put(bytes: $0) }
    }

    /// Serializes a state.
    public static func encode(_ state: UserState) -> [UInt8] {
        var out: [UInt8] = []
        encode(state, into: &out)
        return out
    }

    /// The newest event time of a serialized state, read from its header alone; nil if the bytes
    /// are not a state of this version.
    public static func newestEventTime(_ bytes: UnsafeRawBufferPointer) -> Int64? {
        guard bytes.count >= headerSize, bytes[0] == version else { return nil }
        return Int64(littleEndian: bytes.loadUnaligned(fromByteOffset: 1 + 8 + 8, as: Int64.self))
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
        // Sums of finite embeddings are finite: a NaN or infinity means corrupt bytes, and would
        // reach every vector computed from this state.
        guard sums.allSatisfy(\.isFinite) else { throw StateCorruption(message: "user state holds non-finite sums") }
        guard let tiles = WindowTiles(width: width, referenceTimeMs: refTime, starts: starts, levels: levels, counts: counts, sums: sums)
        else {
            throw StateCorruption(message: "inconsistent tile arrays")
        }
        var state = UserState(updateSequence: sequence, totalListens: listens, newestEventTimeMs: newest, tiles: tiles)
        state.profile = profile
        state.appliedOffsets = applied
        return state
    }

    /// Longest string (country, artist or language id) kept; longer ones are cut.
    static let maxStringBytes = Int(UInt16.max - 1)
}

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
