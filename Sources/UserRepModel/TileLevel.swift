// Tile granularities of the bounded per-user window state.

/// A tile granularity. Tiles are aligned to multiples of their width since the Unix epoch, and
/// each level's width divides the next one's, so a finer tile always merges into exactly one
/// coarser tile.
public struct TileLevel: Sendable, Hashable, Comparable {
    /// Level index: 0 = finest.
    public let rawValue: UInt8
    /// Tile width in days.
    public let widthDays: Int32

    /// 1-day tiles: the newest one to two weeks of a user's listening.
    public static let day = TileLevel(rawValue: 0, widthDays: 1)
    /// 7-day tiles: from about two to eleven weeks back.
    public static let week = TileLevel(rawValue: 1, widthDays: 7)
    /// 28-day tiles: everything older, up to the longest horizon.
    public static let period = TileLevel(rawValue: 2, widthDays: 28)
    /// All levels, finest first.
    public static let all: [TileLevel] = [.day, .week, .period]

    /// The level with this index, if there is one.
    public init?(rawValue: UInt8) {
        guard let level = TileLevel.all.first(where: { $0.rawValue == rawValue }) else { return nil }
        self = level
    }

    private init(rawValue: UInt8, widthDays: Int32) {
        self.rawValue = rawValue
        self.widthDays = widthDays
    }

    /// The start day of the tile of this level that contains `day`.
    public func tileStart(containing day: Int32) -> Int32 {
        let w = widthDays
        // Floor division that is also right for days before 1970.
        return day >= 0 ? (day / w) * w : -(((-day) + w - 1) / w) * w
    }

    public static func < (lhs: TileLevel, rhs: TileLevel) -> Bool { lhs.rawValue < rhs.rawValue }
}
