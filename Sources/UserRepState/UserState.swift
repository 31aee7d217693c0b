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
    /// What the user told us and where they are: sign-up, onboarding picks, country.
    public var profile = UserProfile()
    /// Offset of the newest record applied from each input topic of the user's partition
    /// (indexed by `InputLane.rawValue`: listens, onboarding), -1 before any. A user's records are applied in offset
    /// order, so a record at or below this offset is already reflected and is skipped if read
    /// again (after a crash, a rebalance or a restore from the changelog).
    public var appliedOffsets = SIMD2<Int64>(-1, -1)

    /// The same state with no input record applied as far as positions go: for a state carried to
    /// topics whose offsets mean something else (a replay's state seeding the live topics).
    public var withoutAppliedOffsets: UserState {
        var s = self
        s.appliedOffsets = SIMD2(-1, -1)
        return s
    }

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

    /// Bytes this state holds in memory, approximately: the tiles' arrays and the profile's strings
    /// plus the structure itself (what a cache of decoded states is bounded by).
    public var memoryBytes: Int {
        let arrayHeader = 32
        let tiles = self.tiles.sums.capacity * 4 + self.tiles.starts.count * 4 + self.tiles.counts.count * 4 + self.tiles.levels.count
        let strings =
            profile.artists.reduce(0) { $0 + $1.count + arrayHeader } + profile.languages.reduce(0) { $0 + $1.count + arrayHeader }
            + (profile.country?.count ?? 0)
        return MemoryLayout<UserState>.stride + 6 * arrayHeader + tiles + strings
    }

    /// The horizons whose changes event-time timers follow (every horizon a layout can use).
    public static let timerHorizons = Horizon.all

    /// When this state's windows next change (a tile leaves one of `timerHorizons`) after its
    /// newest event and after `asOfMs` (a vector already published as of that time, e.g. a fired
    /// timer's); nil if they never will.
    public func nextWindowChange(after asOfMs: Int64? = nil) -> Int64? {
        tiles.nextChange(after: max(newestEventTimeMs, asOfMs ?? Int64.min), horizons: Self.timerHorizons)
    }

    /// Whether a window of this state changes exactly at `timeMs`.
    public func windowChanges(at timeMs: Int64) -> Bool { tiles.changes(at: timeMs, horizons: Self.timerHorizons) }

    /// Whether the record at `offset` of input topic `lane` is already reflected in this state.
    public func hasApplied(offset: Int64, lane: InputLane) -> Bool { offset <= appliedOffsets[lane.rawValue] }

    /// Records that the record at `offset` of input topic `lane` has been applied.
    public mutating func markApplied(offset: Int64, lane: InputLane) {
        appliedOffsets[lane.rawValue] = max(appliedOffsets[lane.rawValue], offset)
    }

    /// Applies one listen: `vector` is the track embedding followed by the device one-hot.
    public mutating func applyListen(timeMs: Int64, vector: UnsafeBufferPointer<Float>, country: [UInt8]? = nil) {
        tiles.add(timeMs: timeMs, embedding: vector)
        updateSequence += 1
        totalListens += 1
        newestEventTimeMs = max(newestEventTimeMs, timeMs)
        if let country { profile.observe(country: country, at: timeMs) }
    }

    /// Applies one onboarding event. The first one marks sign-up; the newest one's picks count.
    public mutating func applyOnboarding(timeMs: Int64, artists: [[UInt8]], languages: [[UInt8]], country: [UInt8]?) {
        profile.signupTimeMs = min(profile.signupTimeMs ?? timeMs, timeMs)
        if timeMs >= profile.picksTimeMs {
            profile.picksTimeMs = timeMs
            profile.artists = artists
            profile.languages = languages
        }
        if let country { profile.observe(country: country, at: timeMs) }
        updateSequence += 1
        newestEventTimeMs = max(newestEventTimeMs, timeMs)
    }
}

/// A user's sign-up, onboarding picks and country, each kept as of its newest event time.
public struct UserProfile: Sendable, Equatable {
    /// Time of the first onboarding event.
    public var signupTimeMs: Int64?
    /// Time of the onboarding event whose picks are held.
    public var picksTimeMs = Int64.min
    /// Artists picked at onboarding (empty: skipped).
    public var artists: [[UInt8]] = []
    /// Languages picked at onboarding (empty: skipped).
    public var languages: [[UInt8]] = []
    /// Newest country seen on any event.
    public var country: [UInt8]?
    /// Event time of that country.
    public var countryTimeMs = Int64.min

    /// Creates an empty profile.
    public init() {}

    /// Keeps `country` if it is at least as new as the one held.
    public mutating func observe(country: [UInt8], at timeMs: Int64) {
        guard timeMs >= countryTimeMs else { return }
        self.country = country
        countryTimeMs = timeMs
    }
}
