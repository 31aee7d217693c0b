// What the paper's evaluations read: the catalogue, the events on both sides of the split, the
// exported users and their representations.
import Foundation
import UserRepModel
import UserRepState

/// The track catalogue as the evaluation sees it: every track of the track file, by index, with
/// its artist and embedding (audio then collaborative).
public struct EvaluationCatalogue: Sendable {
    /// Track ids by catalogue index.
    public let ids: [[UInt8]]
    /// Artist per track.
    public let artists: [[UInt8]]
    /// Embeddings, `count × width` row major.
    public let embeddings: [Float]
    /// Floats per embedding.
    public let width: Int
    let index: [[UInt8]: Int]

    /// The catalogue of `records` (later records of a track win).
    public init(records: [TrackRecord]) {
        var index: [[UInt8]: Int] = [:]
        var ids: [[UInt8]] = [], artists: [[UInt8]] = [], embeddings: [Float] = []
        let width = records.first.map { $0.audio.count + $0.collaborative.count } ?? 0
        for r in records {
            if let i = index[r.trackID] {
                artists[i] = r.artistID
                embeddings.replaceSubrange((i * width)..<((i + 1) * width), with: r.audio + r.collaborative)
                continue
            }
            index[r.trackID] = ids.count
            ids.append(r.trackID)
            artists.append(r.artistID)
            embeddings += r.audio + r.collaborative
        }
        self.ids = ids
        self.artists = artists
        self.embeddings = embeddings
        self.width = width
        self.index = index
    }

    /// Tracks in the catalogue.
    public var count: Int { ids.count }
    /// The index of a track, nil if it is not in the catalogue.
    public func index(of trackID: [UInt8]) -> Int? { index[trackID] }
    /// A copy of track `i`'s embedding.
    public func embedding(_ i: Int) -> [Float] { Array(embeddings[(i * width)..<((i + 1) * width)]) }
}

/// One user of the features file as the profiles file describes them.
public struct EvaluatedUser: Sendable, Equatable {
    /// User id.
    public let id: [UInt8]
    /// Country (the newest seen), if any.
    public let country: [UInt8]?
    /// Sign-up time, if the user onboarded.
    public let signupMs: Int64?
    /// Artists picked at onboarding.
    public let pickedArtists: [[UInt8]]
    /// Languages picked at onboarding.
    public let pickedLanguages: [[UInt8]]

    /// A user from its parts.
    public init(id: [UInt8], country: [UInt8]?, signupMs: Int64?, pickedArtists: [[UInt8]], pickedLanguages: [[UInt8]]) {
        self.id = id
        self.country = country
        self.signupMs = signupMs
        self.pickedArtists = pickedArtists
        self.pickedLanguages = pickedLanguages
    }

    /// The users of a profiles file (`features export`'s JSON lines), in file order.
    public static func parseProfiles(_ data: Data, name: String) throws -> [EvaluatedUser] {
        var users: [EvaluatedUser] = []
        for (n, line) in data.split(separator: UInt8(ascii: "\n")).enumerated() {
            guard let o = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any], let id = o["user_id"] as? String else {
                throw WorkerError("\(name):\(n + 1): not a profile line of `features export` (no user_id)")
            }
            func list(_ key: String) -> [[UInt8]] { ((o[key] as? [String]) ?? []).map { Array($0.utf8) } }
            users.append(
                EvaluatedUser(
                    id: Array(id.utf8), country: (o["country"] as? String).map { Array($0.utf8) },
                    signupMs: (o["signup_ms"] as? NSNumber)?.int64Value, pickedArtists: list("picked_artists"),
                    pickedLanguages: list("picked_languages")))
        }
        return users
    }
}

/// One way of representing users: a vector per user of the features file, in its row order.
public struct Representation: Sendable {
    /// Name in the tables ("model <batch>", "average embedding").
    public let name: String
    /// Vectors, `users × width` row major.
    public let vectors: [Float]
    /// Floats per vector.
    public let width: Int

    /// A representation from its vectors.
    public init(name: String, vectors: [Float], width: Int) {
        self.name = name
        self.vectors = vectors
        self.width = width
    }

    /// `model`'s vectors of `count` raw exported rows (standardized on a copy, then encoded).
    public static func encoded(by model: EncoderModel, rows: [Float], count: Int) -> Representation {
        var input = rows
        return Representation(name: "model \(model.batchID)", vectors: model.encode(rows: count, input: &input), width: model.outputSize)
    }

    /// The paper's "average embeddings" baseline from raw exported rows: the user's mean audio
    /// and collaborative embeddings over the longest horizon of `layout` (the same tiles the
    /// model reads; imputed values where the user has no listens in it).
    public static func averageEmbedding(rows: UnsafeBufferPointer<Float>, count: Int, layout: FeatureLayout) throws -> Representation {
        let longest = layout.horizons.max { $0.lengthMs < $1.lengthMs }
        let groups = [FeatureKind.audioMean, .collaborativeMean].compactMap { kind in
            layout.groups.first { $0.kind == kind && $0.horizon == longest?.name }
        }
        guard groups.count == 2 else {
            throw WorkerError(
                "the feature layout has no audio_mean and collaborative_mean groups to build the average-embedding baseline from")
        }
        return Representation(name: "average embedding", rows: rows, count: count, width: layout.inputSize, groups: groups)
    }

    /// The same users' coordinates on the top `count` principal components of these vectors,
    /// under the same name; the vectors as they are when they are no wider than `count` (or there
    /// are fewer than two users).
    public func principalComponents(_ count: Int) throws -> Representation {
        let users = width > 0 ? vectors.count / width : 0
        guard count < width, users > 1 else { return self }
        let out = try vectors.withUnsafeBufferPointer { data in
            let pca = try PCA(data, width: width, rows: Array(0..<users), count: count)
            return (0..<users).flatMap { pca.coordinates(data, row: $0).map { Float($0) } }
        }
        return Representation(name: name, vectors: out, width: count)
    }

    /// The name of `standardizedInputs`' row.
    public static let standardizedInputsName = "features (standardized)"

    /// The exported rows themselves, each feature standardized over the users (constant ones
    /// zeroed): the encoder's input, to tell what the encoder loses from what the features lack.
    public static func standardizedInputs(rows: UnsafeBufferPointer<Float>, count: Int, width: Int) -> Representation {
        let moments = ColumnMoments(rows, width: width, rows: 0..<count)
        let scale = moments.variance.map { $0 > 1e-12 ? 1 / $0.squareRoot() : 0 }
        var vectors = Array(rows.prefix(count * width))
        for r in 0..<count {
            for k in 0..<width { vectors[r * width + k] = Float((Double(vectors[r * width + k]) - moments.mean[k]) * scale[k]) }
        }
        return Representation(name: standardizedInputsName, vectors: vectors, width: width)
    }

    /// The picked artists' mean embedding (audio then collaborative) from raw exported rows; nil
    /// when the layout has no onboarding groups (the listening preset).
    public static func pickedArtists(rows: UnsafeBufferPointer<Float>, count: Int, layout: FeatureLayout) -> Representation? {
        let groups = [FeatureKind.onboardingArtistAudio, .onboardingArtistCollaborative].compactMap { kind in
            layout.groups.first { $0.kind == kind }
        }
        guard groups.count == 2 else { return nil }
        return Representation(name: "picked artists' mean", rows: rows, count: count, width: layout.inputSize, groups: groups)
    }

    private init(name: String, rows: UnsafeBufferPointer<Float>, count: Int, width: Int, groups: [FeatureGroup]) {
        let size = groups.reduce(0) { $0 + $1.size }
        var vectors = [Float]()
        vectors.reserveCapacity(count * size)
        for r in 0..<count {
            for g in groups { vectors += rows[(r * width + g.offset)..<(r * width + g.offset + g.size)] }
        }
        self.init(name: name, vectors: vectors, width: size)
    }
}

/// Listens split at the evaluation time: counts before it, and what each user played after.
public struct ListenTimeline: Sendable {
    /// Per user id: the catalogue indices and times of their listens, sorted by time.
    public let byUser: [[UInt8]: [(track: Int, timeMs: Int64)]]
    /// Listens whose track is not in the catalogue (left out).
    public let unknownTracks: Int

    /// Indexes `listens` by user against `catalogue`.
    public init(listens: [ListenEvent], catalogue: EvaluationCatalogue) {
        var byUser: [[UInt8]: [(track: Int, timeMs: Int64)]] = [:]
        var unknown = 0
        for l in listens {
            guard let t = catalogue.index(of: l.trackID) else {
                unknown += 1
                continue
            }
            byUser[l.userID, default: []].append((t, l.timestampMs))
        }
        for key in byUser.keys { byUser[key]?.sort { $0.timeMs < $1.timeMs || ($0.timeMs == $1.timeMs && $0.track < $1.track) } }
        self.byUser = byUser
        self.unknownTracks = unknown
    }

    /// Distinct tracks `user` played in the event-time interval `(after, upTo]`, ascending.
    public func played(by user: [UInt8], after: Int64, upTo: Int64) -> [Int] {
        Set((byUser[user] ?? []).filter { $0.timeMs > after && $0.timeMs <= upTo }.map(\.track)).sorted()
    }

    /// Listens per track at or before `timeMs`, over every user.
    public func popularity(tracks: Int, upTo timeMs: Int64) -> [Int] {
        popularity(tracks: tracks, upTo: timeMs) { _ in 0 }[0] ?? [Int](repeating: 0, count: tracks)
    }

    /// Listens per track at or before `timeMs` per group of users, in one pass: `group(user)`
    /// names a user's group, nil leaves them out.
    public func popularity<Group: Hashable>(tracks: Int, upTo timeMs: Int64, group: ([UInt8]) -> Group?) -> [Group: [Int]] {
        var counts: [Group: [Int]] = [:]
        let zeros = [Int](repeating: 0, count: tracks)
        for (user, listens) in byUser {
            guard let g = group(user) else { continue }
            for l in listens where l.timeMs <= timeMs { counts[g, default: zeros][l.track] += 1 }
        }
        return counts
    }

    /// The artist `user` played most at or before `timeMs` (ties: the smallest id), nil without listens.
    public func mostPlayedArtist(of user: [UInt8], upTo timeMs: Int64, catalogue: EvaluationCatalogue) -> [UInt8]? {
        Self.mostPlayed((byUser[user] ?? []).lazy.filter { $0.timeMs <= timeMs }.map { catalogue.artists[$0.track] })
    }

    /// The artist named most often in `artists` (ties: the smallest id), nil for none.
    public static func mostPlayed(_ artists: some Sequence<[UInt8]>) -> [UInt8]? {
        var counts: [[UInt8]: Int] = [:]
        for a in artists { counts[a, default: 0] += 1 }
        return counts.max { $0.value < $1.value || ($0.value == $1.value && $1.key.lexicographicallyPrecedes($0.key)) }?.key
    }
}
