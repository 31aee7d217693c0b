// One tile of a user's state as its own store and changelog record: its key and its sums.
import UserRepModel

/// Names one tile of one user's state: its start day, its level and the listens summed into it.
/// A tile's sums change only when its count does (a listen or a merged finer tile adds at least
/// one), so a given (user, start, level, count) always holds the same sums, whoever wrote them:
/// a record is never changed, only written once and deleted when the state no longer holds it.
public struct TileID: Sendable, Hashable {
    /// Start day.
    public let start: Int32
    /// Level.
    public let level: TileLevel
    /// Listens summed into the tile.
    public let count: UInt32

    /// Creates an id.
    public init(start: Int32, level: TileLevel, count: UInt32) {
        self.start = start
        self.level = level
        self.count = count
    }
}

extension WindowTiles {
    /// The id of every tile, in tile order.
    public var tileIDs: [TileID] { starts.indices.map { TileID(start: starts[$0], level: levels[$0], count: counts[$0]) } }
}

/// Tile records (`schemas/state-changelog.md`): the key is the user's key (the user id on the
/// changelog, the state key in the store), the byte 0xFF (never in a valid UTF-8 id), the start
/// (i32), the level (u8) and the count (u32), big endian; the value is the tile's `width` sums, f32
/// little endian. A tombstone deletes the tile.
public enum TileRecord {
    /// The byte between a user's key and a tile's id.
    public static let separator: UInt8 = 0xFF
    /// Bytes a tile id adds to the user's key.
    public static let suffixSize = 1 + 4 + 1 + 4

    /// Appends the separator and `id` to `key`.
    public static func appendSuffix(_ id: TileID, to key: inout [UInt8]) {
        key.append(separator)
        withUnsafeBytes(of: UInt32(bitPattern: id.start).bigEndian) { key.append(contentsOf: $0) }
        key.append(id.level.rawValue)
        withUnsafeBytes(of: id.count.bigEndian) { key.append(contentsOf: $0) }
    }

    /// The key of tile `id` of the user whose key is `userKey`.
    public static func key(_ userKey: [UInt8], _ id: TileID) -> [UInt8] {
        var key = userKey
        key.reserveCapacity(userKey.count + suffixSize)
        appendSuffix(id, to: &key)
        return key
    }

    /// Splits a tile key into the user's key and the tile id; nil if `key` has no separator after
    /// its first `idStart` bytes (where the user id begins: 0 on the changelog, after the
    /// partition in the store), i.e. is a user's own key. Throws for a separator followed by
    /// anything but a tile id.
    public static func split(_ key: UnsafeRawBufferPointer, idStart: Int = 0) throws -> (userKey: [UInt8], id: TileID)? {
        guard key.count > idStart, let at = key[idStart...].firstIndex(of: separator) else { return nil }
        guard key.count - at == suffixSize else {
            throw StateCorruption(message: "tile key of \(key.count - at) bytes after the user's, expected \(suffixSize)")
        }
        let start = Int32(bitPattern: UInt32(bigEndian: key.loadUnaligned(fromByteOffset: at + 1, as: UInt32.self)))
        let raw = key[at + 5]
        guard let level = TileLevel(rawValue: raw) else { throw StateCorruption(message: "unknown tile level \(raw) in a tile key") }
        let count = UInt32(bigEndian: key.loadUnaligned(fromByteOffset: at + 6, as: UInt32.self))
        return (Array(key[..<at]), TileID(start: start, level: level, count: count))
    }

    /// Checks a tile value: `width` finite floats.
    public static func validate(_ value: UnsafeRawBufferPointer, width: Int) throws {
        guard value.count == 4 * width else {
            throw StateCorruption(message: "tile record of \(value.count) bytes, expected \(4 * width) (\(width) floats)")
        }
        for k in 0..<width where !Float(bitPattern: UInt32(littleEndian: value.loadUnaligned(fromByteOffset: 4 * k, as: UInt32.self))).isFinite {
            throw StateCorruption(message: "tile record holds non-finite sums")
        }
    }

    /// `count` floats read from `bytes` (little endian, the machine's order on every platform we ship).
    static func floats(_ bytes: UnsafeRawBufferPointer, count: Int) throws -> [Float] {
        guard bytes.count == 4 * count else { throw StateCorruption(message: "\(bytes.count) bytes of sums, expected \(4 * count)") }
        return [Float](unsafeUninitializedCapacity: count) { buffer, n in
            UnsafeMutableRawBufferPointer(buffer).copyMemory(from: bytes)
            n = count
        }
    }
}
