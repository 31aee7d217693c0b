// Synthetic tracks and listens with realistic skew, for the demo, the benchmark and tests.
import Foundation
import UserRepModel
import UserRepPipeline

/// Generates a track catalogue and a stream of listens: Zipf-like track popularity, Zipf-like
/// user activity, event times spread over months and mostly increasing, with a few late events.
/// Deterministic for a seed.
public struct SyntheticGenerator: Sendable {
    /// Generator settings.
    public struct Settings: Sendable {
        /// Distinct users.
        public var users = 100_000
        /// Tracks in the catalogue.
        public var tracks = 20_000
        /// Artists the tracks belong to.
        public var artists = 2_000
        /// Embedding dimensions.
        public var dims = ModelManifest.EmbeddingDims(audio: 80, collaborative: 80)
        /// Embedding batch stamped on track records.
        public var embeddingBatchID = "emb-demo-1"
        /// Event-time span the listens cover, ending at `endTimeMs`.
        public var spanDays = 180
        /// Event time of the last listen.
        public var endTimeMs = Int64(1_790_000_000_000)
        /// Zipf exponent of track popularity.
        public var trackSkew = 1.05
        /// Zipf exponent of user activity.
        public var userSkew = 0.8
        /// Fraction of listens that arrive up to three days late.
        public var lateFraction = 0.05
        /// Seed.
        public var seed: UInt64 = 42
        /// Fraction of new users who complete onboarding (the rest skip it).
        public var onboardingCompletion = 0.6
        /// Countries users come from.
        public var countries = ["SE", "US", "BR", "DE", "JP"]
        /// Languages users may pick.
        public var languages = ["en", "sv", "pt", "de", "ja", "es"]
        /// Planted taste clusters (0: none, every listen follows global popularity). With K > 0,
        /// artist `a` belongs to cluster `a % K`, user `u` to cluster `u % K`; a share
        /// `tasteStrength` of a user's listens and all their onboarding picks come from their
        /// cluster's artists, and a track's audio embedding is its cluster's centroid plus noise.
        public var tasteClusters = 0
        /// Share of a clustered user's listens drawn from their cluster.
        public var tasteStrength = 0.7

        /// Default settings.
        public init() {}

        /// Default settings with a given population and catalogue (one artist per ten tracks).
        public init(users: Int, tracks: Int) {
            self.users = users
            self.tracks = tracks
            self.artists = max(1, tracks / 10)
        }
    }

    /// The settings in use.
    public let settings: Settings
    private let trackCDF: [Double]
    private let userCDF: [Double]
    /// Per taste cluster: its tracks (ascending, so by popularity) and their popularity CDF.
    private let clusterTracks: [[Int]]
    private let clusterCDFs: [[Double]]
    private var rng: SplitMix64

    /// Prepares the popularity distributions.
    public init(settings: Settings = Settings()) {
        self.settings = settings
        trackCDF = Self.zipfCDF(count: settings.tracks, exponent: settings.trackSkew)
        userCDF = Self.zipfCDF(count: settings.users, exponent: settings.userSkew)
        let k = settings.tasteClusters
        clusterTracks = (0..<k).map { c in (0..<settings.tracks).filter { ($0 % settings.artists) % k == c } }
        clusterCDFs = clusterTracks.map { Self.zipfCDF(count: max(1, $0.count), exponent: settings.trackSkew) }
        rng = SplitMix64(seed: settings.seed)
    }

    /// A user index drawn by activity (Zipf-like).
    public mutating func sampleUser() -> Int { Self.sample(userCDF, rng.nextUnit()) }

    /// The taste cluster of user index `user`, nil without planted clusters.
    public func tasteCluster(ofUser user: Int) -> Int? { settings.tasteClusters > 0 ? user % settings.tasteClusters : nil }

    /// The taste cluster of artist index `artist`, nil without planted clusters.
    public func tasteCluster(ofArtist artist: Int) -> Int? { settings.tasteClusters > 0 ? artist % settings.tasteClusters : nil }

    /// A track for user index `user`: from their taste cluster with probability `tasteStrength`
    /// (by popularity within it), else by global popularity.
    mutating func track(forUser user: Int) -> Int {
        if let c = tasteCluster(ofUser: user), !clusterTracks[c].isEmpty, rng.nextUnit() < settings.tasteStrength {
            return clusterTracks[c][Self.sample(clusterCDFs[c], rng.nextUnit())]
        }
        return Self.sample(trackCDF, rng.nextUnit())
    }

    /// Track id for catalogue index `i`.
    public static func trackID(_ i: Int) -> String { "t\(i)" }
    /// User id for index `i`.
    public static func userID(_ i: Int) -> String { "u\(i)" }

    /// The catalogue: one record per track, unit-scale random embeddings.
    public func trackRecords() -> [TrackRecord] {
        var r = SplitMix64(seed: settings.seed ^ 0xA5A5)
        let centroids = (0..<settings.tasteClusters).map { _ in (0..<settings.dims.audio).map { _ in r.nextGaussian() * 0.5 } }
        return (0..<settings.tracks).map { i in
            let centroid = tasteCluster(ofArtist: i % settings.artists).map { centroids[$0] }
            let audio = (0..<settings.dims.audio).map { k in (centroid?[k] ?? 0) + r.nextGaussian() * 0.5 }
            let collab = (0..<settings.dims.collaborative).map { _ in r.nextGaussian() * 0.5 }
            return TrackRecord(
                trackID: Array(Self.trackID(i).utf8), artistID: Array("a\(i % settings.artists)".utf8),
                batchID: settings.embeddingBatchID, audio: audio, collaborative: collab)
        }
    }

    /// The `index`-th of `total` listens: time advances with the index across the span.
    public mutating func listen(index: Int, total: Int) -> ListenEvent {
        let user = Self.sample(userCDF, rng.nextUnit())
        let track = self.track(forUser: user)
        let spanMs = Int64(settings.spanDays) * Horizon.dayMs
        let progress = total > 1 ? Double(index) / Double(total - 1) : 1
        var time = settings.endTimeMs - spanMs + Int64(progress * Double(spanMs))
        if rng.nextUnit() < settings.lateFraction { time -= Int64(rng.nextUnit() * 3 * Double(Horizon.dayMs)) }
        return listen(user: user, track: track, timeMs: time)
    }

    /// A listen at `timeMs` by a user drawn by activity, its track chosen by the user's taste.
    public mutating func listen(atMs timeMs: Int64) -> ListenEvent {
        let user = Self.sample(userCDF, rng.nextUnit())
        return listen(user: user, track: track(forUser: user), timeMs: timeMs)
    }

    /// A listen by user index `user` at `timeMs`, its track chosen by the user's taste.
    public mutating func listen(user: Int, timeMs: Int64) -> ListenEvent {
        listen(user: user, track: track(forUser: user), timeMs: timeMs)
    }

    private mutating func listen(user: Int, track: Int, timeMs time: Int64) -> ListenEvent {
        let devices = ["mobile", "desktop", "speaker", "tv"]
        return ListenEvent(
            userID: Array(Self.userID(user).utf8), trackID: Array(Self.trackID(track).utf8),
            timestampMs: time, msPlayed: Int64(30_000 + rng.next() % 200_000),
            country: Array(settings.countries[user % settings.countries.count].utf8),
            device: Array(devices[Int(rng.next() % 4)].utf8))
    }

    /// The sign-up of user `user` at `timeMs`: some pick artists and languages, the others skip.
    public mutating func onboarding(user: [UInt8], timeMs: Int64) -> OnboardingEvent {
        let index = Int(String(decoding: user.dropFirst(), as: UTF8.self)) ?? 0
        let country = Array(settings.countries[index % settings.countries.count].utf8)
        guard rng.nextUnit() < settings.onboardingCompletion else {
            return OnboardingEvent(userID: user, timestampMs: timeMs, artistIDs: [], languages: [], country: country)
        }
        let artists = (0..<(1 + Int(rng.next() % 5))).map { _ in
            // Picks come from the user's own cluster when there are clusters.
            let track =
                tasteCluster(ofUser: index).flatMap { c in
                    clusterTracks[c].isEmpty ? nil : clusterTracks[c][Self.sample(clusterCDFs[c], rng.nextUnit())]
                }
                ?? Self.sample(trackCDF, rng.nextUnit())
            return Array("a\(track % settings.artists)".utf8)
        }
        let languages = (0..<(1 + Int(rng.next() % 2))).map { _ in
            Array(settings.languages[Int(rng.next() % UInt64(settings.languages.count))].utf8)
        }
        return OnboardingEvent(userID: user, timestampMs: timeMs, artistIDs: artists, languages: languages, country: country)
    }

    static func zipfCDF(count: Int, exponent: Double) -> [Double] {
        var cdf = [Double](repeating: 0, count: count)
        var sum = 0.0
        for i in 0..<count {
            sum += 1 / pow(Double(i + 1), exponent)
            cdf[i] = sum
        }
        return cdf.map { $0 / sum }
    }

    static func sample(_ cdf: [Double], _ u: Double) -> Int {
        var lo = 0, hi = cdf.count - 1
        while lo < hi {
            let mid = (lo + hi) / 2
            if cdf[mid] < u { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }
}
