// Which tile an event lives in, as a pure function of its time and the user's newest event time.

/// The rule that maps an event to its tile, and decides when a tile counts towards a horizon.
///
/// With `T` the user's newest event time (the reference):
/// - events on or after `weekStart(T) - 7 days` live in **1-day** tiles;
/// - events on or after `periodStart(T) - 56 days` live in **7-day** tiles;
/// - older events live in **28-day** tiles; tiles that end more than the longest horizon before
///   `T` are dropped.
///
/// A tile `[s, e)` counts towards horizon `H` at compute time `t >= T` when `e > t - H`. So every
/// listen younger than `H` is counted, and no listen older than `H + g` is, where the tail
/// granularity `g` is 1 day for 1 week, 7 days for 1 month and 28 days for 6 months.
/// A user holds at most 14 + 10 + 7 = 31 tiles, whatever their number of listens.
public enum TilePolicy {
    /// Milliseconds per day.
    public static let dayMs = Horizon.dayMs
    /// The longest horizon; tiles ending before `T - maxHorizon` can never count again.
    public static let maxHorizonMs = Horizon.halfYear.lengthMs

    /// The day number (days since 1970-01-01 UTC) containing `timeMs`.
    @inlinable
    public static func day(of timeMs: Int64) -> Int32 {
        // Floor division, defined for every Int64 (no negation that could overflow).
        let (q, r) = timeMs.quotientAndRemainder(dividingBy: dayMs)
        return Int32(clamping: r < 0 ? q - 1 : q)
    }

    /// First day held in 1-day tiles for reference day `refDay`.
    public static func dayLevelStart(refDay: Int32) -> Int32 {
        TileLevel.week.tileStart(containing: refDay) - 7
    }

    /// First day held in 7-day tiles for reference day `refDay`.
    public static func weekLevelStart(refDay: Int32) -> Int32 {
        TileLevel.period.tileStart(containing: refDay) - 56
    }

    /// The level an event on `day` lives at when the user's newest event is on `refDay`.
    public static func level(ofDay day: Int32, refDay: Int32) -> TileLevel {
        if day >= dayLevelStart(refDay: refDay) { return .day }
        if day >= weekLevelStart(refDay: refDay) { return .week }
        return .period
    }

    /// End (exclusive) of a tile, in milliseconds.
    @inlinable
    public static func tileEndMs(start: Int32, level: TileLevel) -> Int64 {
        Int64(start + level.widthDays) * dayMs
    }

    /// Whether a tile still matters to any horizon at any time at or after `refTimeMs`.
    public static func isLive(start: Int32, level: TileLevel, refTimeMs: Int64) -> Bool {
        tileEndMs(start: start, level: level) > refTimeMs - maxHorizonMs
    }

    /// Whether a tile counts towards `horizon` for a vector computed at `computeTimeMs`.
    @inlinable
    public static func counts(start: Int32, level: TileLevel, horizon: Horizon, computeTimeMs: Int64) -> Bool {
        tileEndMs(start: start, level: level) > computeTimeMs - horizon.lengthMs
    }

    /// The rule stated for one listen, from raw times alone: whether a listen at `eventTimeMs`
    /// counts towards `horizon` at `computeTimeMs` when the user's newest listen is at
    /// `referenceTimeMs`. `WindowTiles` applies it per tile; tests recompute aggregates with it.
    public static func listenCounts(eventTimeMs: Int64, referenceTimeMs: Int64, horizon: Horizon, computeTimeMs: Int64) -> Bool {
        let day = day(of: eventTimeMs)
        let level = level(ofDay: day, refDay: self.day(of: referenceTimeMs))
        let start = level.tileStart(containing: day)
        return isLive(start: start, level: level, refTimeMs: referenceTimeMs)
            && counts(start: start, level: level, horizon: horizon, computeTimeMs: max(computeTimeMs, referenceTimeMs))
    }

    /// Tail granularity of a horizon in days: how much older than the horizon a counted listen can be.
    public static func tailGranularityDays(of horizon: Horizon) -> Int32 {
        if horizon.lengthMs <= 7 * dayMs { return TileLevel.day.widthDays }
        if horizon.lengthMs <= 56 * dayMs { return TileLevel.week.widthDays }
        return TileLevel.period.widthDays
    }
}
