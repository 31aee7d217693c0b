// Compact binary encoding of UserState for the state store and the changelog: a head, and tiles.
import UserRepModel

/// Why stored bytes could not be decoded into a `UserState`.
public struct StateCorruption: Error, Sendable, CustomStringConvertible {
    /// What was wrong with the bytes.
    public let message: String
    public var description: String { message }

    /// Creates an error with a message that says what was wrong.
    public init(message: String) { self.message = message }
}

/// Encodes `UserState` for the store and the changelog (`schemas/state-changelog.md`).
///
/// A state is stored as a **head** (version 4) plus one record per tile (`TileRecord`): version u8,
/// sequence u64, listens u64, newest event time i64, tile reference time i64, applied listens
/// offset i64, applied onboarding offset i64, the profile (signup i64 or i64.min, picks time i64,
/// country time i64, country, artists, languages as u16-length strings and u16-counted lists;
/// country length 0xFFFF = none), width u16, tile count u16, per tile (start i32, level u8, count
/// u32); little endian throughout. The **whole state** of earlier builds (version 3) is the same
/// followed by all tile sums as f32; it is still read (`decodeStored`) and written only for tests
/// and tools (`encode`).
public enum UserStateCodec {
    /// Head format version written by this build.
    public static let version: UInt8 = 4
    /// Version of the whole-state format (head and sums in one value) of earlier builds.
    public static let wholeVersion: UInt8 = 3
    static let headerSize = 1 + 8 + 8 + 8 + 8 + 8 + 8 + 2 + 2
    static let tileHeaderSize = 4 + 1 + 4
    /// Profile bytes besides its strings: three times, the country length, two list counts.
    static let profileFixedSize = 8 + 8 + 8 + 2 + 2 + 2

    /// Bytes the head of `state` serializes to.
    public static func headSize(_ state: UserState) -> Int {
        let p = state.profile
        func listBytes(_ list: [[UInt8]]) -> Int { list.reduce(0) { $0 + 2 + min($1.count, maxStringBytes) } }
        let strings = (p.country.map { min($0.count, maxStringBytes) } ?? 0) + listBytes(p.artists) + listBytes(p.languages)
        return headerSize + profileFixedSize + strings + state.tiles.tileCount * tileHeaderSize
    }

    /// Bytes the whole state (version 3) serializes to.
    public static func encodedSize(_ state: UserState) -> Int { headSize(state) + 4 * state.tiles.sums.count }

    /// Writes the head of `state` into `out`, which must hold exactly `headSize(state)` bytes.
    public static func writeHead(_ state: UserState, to out: UnsafeMutableRawBufferPointer) {
        precondition(out.count == headSize(state), "buffer does not match the head's size")
        var w = ByteWriter(bytes: out)
        writeHead(state, version: version, into: &w)
        assert(w.position == out.count, "the head's writer left bytes unwritten")
    }

    /// The head of `state`.
    public static func encodeHead(_ state: UserState) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: headSize(state)) { buffer, count in
            writeHead(state, to: UnsafeMutableRawBufferPointer(buffer))
            count = buffer.count
        }
    }

    /// The whole state in version 3 (head and sums in one value), as earlier builds stored it.
    public static func encode(_ state: UserState) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: encodedSize(state)) { buffer, count in
            var w = ByteWriter(bytes: UnsafeMutableRawBufferPointer(buffer))
            writeHead(state, version: wholeVersion, into: &w)
            // Floats are stored in the machine's order, which is little endian on every platform we ship.
            state.tiles.sums.withUnsafeBytes { w.put(bytes: $0) }
            count = buffer.count
        }
    }

    private static func writeHead(_ state: UserState, version: UInt8, into w: inout ByteWriter) {
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
    }

    /// The newest event time of a serialized head or whole state, read from its header alone; nil
    /// if the bytes are neither.
    public static func newestEventTime(_ bytes: UnsafeRawBufferPointer) -> Int64? {
        guard bytes.count >= headerSize, bytes[0] == version || bytes[0] == wholeVersion else { return nil }
        return Int64(littleEndian: bytes.loadUnaligned(fromByteOffset: 1 + 8 + 8, as: Int64.self))
    }

    /// Decodes a stored value: a head (whose tiles are separate records) or a whole state of an
    /// earlier build, checking every length.
    public static func decodeStored(_ bytes: UnsafeRawBufferPointer, expectedWidth: Int) throws -> StoredState {
        var reader = ByteReader(bytes: bytes)
        let v = try reader.u8()
        guard v == version || v == wholeVersion else {
            throw StateCorruption(message: "user state version \(v) is not supported (expected \(version) or \(wholeVersion))")
        }
        let head = try readHead(&reader, expectedWidth: expectedWidth)
        guard v == wholeVersion else {
            guard reader.remaining == 0 else { throw StateCorruption(message: "user state head has \(reader.remaining) bytes too many") }
            return .head(head)
        }
        let floatBytes = head.tileIDs.count * expectedWidth * 4
        guard reader.remaining == floatBytes else {
            throw StateCorruption(message: "user state has \(reader.remaining) bytes of sums, expected \(floatBytes)")
        }
        let sums = try TileRecord.floats(UnsafeRawBufferPointer(rebasing: bytes[reader.position...]), count: floatBytes / 4)
        return .whole(try head.assemble(sums: sums))
    }

    /// Decodes a whole state (version 3); a head is refused, since its tiles are not in the bytes.
    public static func decode(_ bytes: UnsafeRawBufferPointer, expectedWidth: Int) throws -> UserState {
        switch try decodeStored(bytes, expectedWidth: expectedWidth) {
        case .whole(let state): return state
        case .head: throw StateCorruption(message: "user state head without its tiles")
        }
    }

    /// Decodes a head (version 4).
    public static func decodeHead(_ bytes: UnsafeRawBufferPointer, expectedWidth: Int) throws -> StateHead {
        switch try decodeStored(bytes, expectedWidth: expectedWidth) {
        case .head(let head): return head
        case .whole: throw StateCorruption(message: "expected a user state head, found a whole state")
        }
    }

    private static func readHead(_ reader: inout ByteReader, expectedWidth: Int) throws -> StateHead {
        var state = UserState(width: expectedWidth)
        state.updateSequence = try reader.u64()
        state.totalListens = try reader.u64()
        state.newestEventTimeMs = Int64(bitPattern: try reader.u64())
        let refTime = Int64(bitPattern: try reader.u64())
        state.appliedOffsets = SIMD2(Int64(bitPattern: try reader.u64()), Int64(bitPattern: try reader.u64()))
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
        state.profile = profile
        let width = Int(try reader.u16())
        let tileCount = Int(try reader.u16())
        guard width == expectedWidth else {
            throw StateCorruption(message: "user state holds \(width)-float embeddings but the model uses \(expectedWidth)")
        }
        var tiles: [TileID] = []
        tiles.reserveCapacity(tileCount)
        for _ in 0..<tileCount {
            let start = Int32(bitPattern: try reader.u32())
            let raw = try reader.u8()
            guard let level = TileLevel(rawValue: raw) else { throw StateCorruption(message: "unknown tile level \(raw)") }
            tiles.append(TileID(start: start, level: level, count: try reader.u32()))
        }
        for i in tiles.indices where tiles[..<i].contains(where: { $0.start == tiles[i].start && $0.level == tiles[i].level }) {
            throw StateCorruption(message: "user state holds two tiles with the same start and level")
        }
        return StateHead(base: state, referenceTimeMs: refTime, tileIDs: tiles)
    }

    /// Longest string (country, artist or language id) kept; longer ones are cut.
    static let maxStringBytes = Int(UInt16.max - 1)
}

/// A decoded stored value: a head, whose tiles are separate records, or a whole state.
public enum StoredState: Sendable {
    /// A head (version 4).
    case head(StateHead)
    /// A whole state of an earlier build (version 3).
    case whole(UserState)

    /// The applied input offsets the value records.
    public var appliedOffsets: SIMD2<Int64> {
        switch self {
        case .head(let head): return head.base.appliedOffsets
        case .whole(let state): return state.appliedOffsets
        }
    }
}

/// Everything of a state but its tile sums: the counters, the profile and the tile index.
public struct StateHead: Sendable, Equatable {
    /// The state with its tiles left empty.
    public var base: UserState
    /// Newest event time the tiles reflect (`WindowTiles.referenceTimeMs`).
    public var referenceTimeMs: Int64
    /// The tiles, in the state's order (newest first).
    public var tileIDs: [TileID]

    /// The head of `state`.
    public init(_ state: UserState) {
        var base = state
        base.tiles = WindowTiles(width: state.tiles.width)
        self.init(base: base, referenceTimeMs: state.tiles.referenceTimeMs, tileIDs: state.tiles.tileIDs)
    }

    init(base: UserState, referenceTimeMs: Int64, tileIDs: [TileID]) {
        self.base = base
        self.referenceTimeMs = referenceTimeMs
        self.tileIDs = tileIDs
    }

    /// The state with `sums` (`width` floats per tile, in `tileIDs` order) as its tiles' sums.
    public func assemble(sums: [Float]) throws -> UserState {
        // Sums of finite embeddings are finite: a NaN or infinity means corrupt bytes, and would
        // reach every vector computed from this state.
        guard sums.allSatisfy(\.isFinite) else { throw StateCorruption(message: "user state holds non-finite sums") }
        guard
            let tiles = WindowTiles(
                width: base.tiles.width, referenceTimeMs: referenceTimeMs, starts: tileIDs.map(\.start), levels: tileIDs.map(\.level),
                counts: tileIDs.map(\.count), sums: sums)
        else { throw StateCorruption(message: "inconsistent tile arrays") }
        var state = base
        state.tiles = tiles
        return state
    }

    /// When the state's windows next change after its newest event and after `asOfMs`
    /// (`UserState.nextWindowChange`): the tile index alone decides it.
    public func nextWindowChange(after asOfMs: Int64? = nil) -> Int64? {
        let zeros = [Float](repeating: 0, count: tileIDs.count * base.tiles.width)
        return (try? assemble(sums: zeros))?.nextWindowChange(after: asOfMs)
    }
}
