// Bounded per-user event-time window state: tiles of summed track embeddings and play counts.

/// A user's listening history reduced to tiles of summed embeddings (see `TilePolicy` for the rule).
///
/// Each tile holds a play count and the sum of `width` floats (the audio then the collaborative
/// embedding of every listen in the tile). Tiles are kept sorted by start day, newest first.
public struct WindowTiles: Sendable, Equatable {
    /// Floats summed per listen (audio + collaborative dimensions).
    public let width: Int
    /// Newest event time reflected, in ms; the reference for tile levels. `Int64.min` when empty.
    public private(set) var referenceTimeMs: Int64
    /// Start day of each tile.
    public private(set) var starts: [Int32]
    /// Level of each tile.
    public private(set) var levels: [TileLevel]
    /// Listens summed into each tile.
    public private(set) var counts: [UInt32]
    /// `width` floats per tile, in tile order.
    public private(set) var sums: [Float]

    /// An empty window state for embeddings of `width` floats.
    public init(width: Int) {
        self.width = width
        self.referenceTimeMs = Int64.min
        self.starts = []
        self.levels = []
        self.counts = []
        self.sums = []
    }

    /// Rebuilds a state from its parts (used by the state codec); nil if the parts disagree.
    public init?(
        width: Int, referenceTimeMs: Int64, starts: [Int32], levels: [TileLevel],
        counts: [UInt32], sums: [Float]
    ) {
        guard starts.count == levels.count, starts.count == counts.count,
            sums.count == starts.count * width
        else { return nil }
        self.width = width
        self.referenceTimeMs = referenceTimeMs
        self.starts = starts
        self.levels = levels
        self.counts = counts
        self.sums = sums
    }

    /// Number of tiles held.
    public var tileCount: Int { starts.count }

    /// Whether no listen is held.
    public var isEmpty: Bool { starts.isEmpty }

    /// Adds one listen at `timeMs` whose embedding is `embedding` (`width` floats).
    /// Listens too old to count towards any horizon are dropped and reported as `false`.
    @discardableResult
    public mutating func add(timeMs: Int64, embedding: UnsafeBufferPointer<Float>) -> Bool {
        precondition(embedding.count == width, "embedding width mismatch")
        if timeMs > referenceTimeMs {
            referenceTimeMs = timeMs
            compact()
        }
        let refDay = TilePolicy.day(of: referenceTimeMs)
        let day = TilePolicy.day(of: timeMs)
        let level = TilePolicy.level(ofDay: day, refDay: refDay)
        let start = level.tileStart(containing: day)
        guard TilePolicy.isLive(start: start, level: level, refTimeMs: referenceTimeMs) else { return false }
        let index = tileIndex(start: start, level: level)
        counts[index] &+= 1
        sums.withUnsafeMutableBufferPointer { all in
            let base = index * width
            for k in 0..<width { all[base + k] += embedding[k] }
        }
        return true
    }

    /// Sums the tiles that count towards each of `horizons` at `computeTimeMs` (clamped to the
    /// reference time, since vectors are never computed for a time before the newest listen).
    public func aggregate(horizons: [Horizon], at computeTimeMs: Int64) -> [HorizonAggregate] {
        var result = horizons.map { _ in HorizonAggregate(width: width) }
        aggregate(horizons: horizons, at: computeTimeMs, into: &result)
        return result
    }

    /// Same as `aggregate(horizons:at:)`, reusing `result`'s storage.
    public func aggregate(horizons: [Horizon], at computeTimeMs: Int64, into result: inout [HorizonAggregate]) {
        let t = max(computeTimeMs, referenceTimeMs)
        for h in horizons.indices { result[h].reset(width: width) }
        let w = width
        sums.withUnsafeBufferPointer { all in
            guard let base = all.baseAddress else { return }
            for i in starts.indices {
                let tile = base + i * w
                for h in horizons.indices
                where TilePolicy.counts(start: starts[i], level: levels[i], horizon: horizons[h], computeTimeMs: t) {
                    result[h].add(count: counts[i], tile: tile)
                }
            }
        }
    }

    /// The first time after `asOfMs` at which a tile leaves one of `horizons` (a tile `[s, e)`
    /// counts towards horizon H at t while `e > t - H`, so it leaves at `e + H`): until then a
    /// vector computed later than `asOfMs` sees the same windows. Nil when no tile will leave any
    /// horizon (no tile counts towards any of them after `asOfMs`).
    public func nextChange(after asOfMs: Int64, horizons: [Horizon]) -> Int64? {
        var next: Int64?
        for i in starts.indices {
            let end = TilePolicy.tileEndMs(start: starts[i], level: levels[i])
            for h in horizons {
                let leaves = end + h.lengthMs
                if leaves > asOfMs, leaves < next ?? Int64.max { next = leaves }
            }
        }
        return next
    }

    /// Whether a tile leaves one of `horizons` exactly at `timeMs` (a window changes then).
    public func changes(at timeMs: Int64, horizons: [Horizon]) -> Bool {
        starts.indices.contains { i in
            let end = TilePolicy.tileEndMs(start: starts[i], level: levels[i])
            return horizons.contains { end + $0.lengthMs == timeMs }
        }
    }

    /// Finds or inserts the tile `(start, level)`, keeping tiles sorted newest first.
    private mutating func tileIndex(start: Int32, level: TileLevel) -> Int {
        var i = 0
        while i < starts.count {
            if starts[i] == start && levels[i] == level { return i }
            if starts[i] < start || (starts[i] == start && levels[i] > level) { break }
            i += 1
        }
        starts.insert(start, at: i)
        levels.insert(level, at: i)
        counts.insert(0, at: i)
        // Exactly one tile more: growing by doubling left up to twice the sums' memory allocated,
        // in every cached state.
        sums.reserveCapacity(sums.count + width)
        sums.insert(contentsOf: repeatElement(0, count: width), at: i * width)
        return i
    }

    /// Moves tiles that aged past their level's range into coarser tiles and drops dead ones.
    private mutating func compact() {
        let refDay = TilePolicy.day(of: referenceTimeMs)
        var i = 0
        while i < starts.count {
            let target = TilePolicy.level(ofDay: starts[i], refDay: refDay)
            if !TilePolicy.isLive(start: starts[i], level: levels[i], refTimeMs: referenceTimeMs) {
                remove(at: i)
                continue
            }
            if target > levels[i] {
                let start = target.tileStart(containing: starts[i])
                let count = counts[i]
                let moved = Array(sums[(i * width)..<((i + 1) * width)])
                remove(at: i)
                if TilePolicy.isLive(start: start, level: target, refTimeMs: referenceTimeMs) {
                    let j = tileIndex(start: start, level: target)
                    counts[j] &+= count
                    for k in 0..<width { sums[j * width + k] += moved[k] }
                }
                // Restart: indices shifted and the merged tile may sit before `i`.
                i = 0
                continue
            }
            i += 1
        }
    }

    private mutating func remove(at i: Int) {
        starts.remove(at: i)
        levels.remove(at: i)
        counts.remove(at: i)
        sums.removeSubrange((i * width)..<((i + 1) * width))
    }
}

/// The play count and embedding sum of one horizon at one compute time.
public struct HorizonAggregate: Sendable, Equatable {
    /// Listens counted.
    public private(set) var count: UInt64
    /// Sum of their embeddings (audio then collaborative).
    public private(set) var sums: [Float]

    /// An empty aggregate.
    public init(width: Int) {
        count = 0
        sums = Array(repeating: 0, count: width)
    }

    mutating func reset(width: Int) {
        count = 0
        if sums.count != width {
            sums = Array(repeating: 0, count: width)
        } else {
            for k in sums.indices { sums[k] = 0 }
        }
    }

    mutating func add(count: UInt32, tile: UnsafePointer<Float>) {
        self.count += UInt64(count)
        sums.withUnsafeMutableBufferPointer { target in
            guard let out = target.baseAddress else { return }
            for k in 0..<target.count { out[k] += tile[k] }
        }
    }
}
