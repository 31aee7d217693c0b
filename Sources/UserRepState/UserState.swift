// Everything the worker remembers about one user.
import UserRepModel

/// One user's state: window tiles plus the counters that make outputs deduplicable.
public struct UserState: Sendable, Equatable {
    /// Events applied to this user so far; stamped on every output as its update sequence.
    public var updateSequence: UInt64
    /// Listens applied so far (including ones too old to land in any window).
    public var totalListens: UInt64
    /// Event time (ms) of the newest event applied, `Int64.min` before the first.
    public var newestEventTimeMs: Int64
    /// Event-time window tiles of the user's listening.
    public var tiles: WindowTiles

    /// A user with no events, for embeddings of `width` floats.
    public init(width: Int) {
        updateSequence = 0
        totalListens = 0
        newestEventTimeMs = Int64.min
        tiles = WindowTiles(width: width)
    }

    /// Creates a state from its parts.
    public init(updateSequence: UInt64, totalListens: UInt64, newestEventTimeMs: Int64, tiles: WindowTiles) {
        self.updateSequence = updateSequence
        self.totalListens = totalListens
        self.newestEventTimeMs = newestEventTimeMs
        self.tiles = tiles
    }

    /// Applies one listen with its track's embedding.
    public mutating func applyListen(timeMs: Int64, embedding: UnsafeBufferPointer<Float>) {
        tiles.add(timeMs: timeMs, embedding: embedding)
        updateSequence += 1
        totalListens += 1
        newestEventTimeMs = max(newestEventTimeMs, timeMs)
    }
}
