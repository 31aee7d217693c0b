// The track-embedding table: every track's audio and collaborative embedding, for one batch.

/// Track embeddings of one embedding batch, one row per track (audio then collaborative) in
/// chunks of rows, indexed by track id. Also keeps, per artist, the sum of their tracks' embeddings.
///
/// A table either holds a whole catalogue and derives artist sums from its tracks (offline
/// commands, the default), or is the worker's bounded cache of a catalogue kept elsewhere
/// (`derivesArtistMeans: false`): then tracks come and go (`upsert`, `remove`) without touching the
/// artist sums, which its owner sets from the full catalogue (`setArtist`).
public struct TrackTable: Sendable {
    /// The embedding batch this table holds; records of other batches are refused.
    public let batchID: String
    /// Embedding dimensions.
    public let dims: ModelManifest.EmbeddingDims
    /// Whether the artist sums follow the table's own tracks (false: set by `setArtist`).
    public let derivesArtistMeans: Bool
    /// Floats per track.
    public var width: Int { dims.audio + dims.collaborative }
    private var index: [[UInt8]: Int32] = [:]
    private var embeddings: ChunkedRows
    private var artists: [[UInt8]] = []
    private var freeSlots: [Int32] = []
    private var artistSums: [[UInt8]: ArtistSum] = [:]
    /// Estimated bytes of memory the tracks and artist sums held now take (`residentBytes`).
    public private(set) var residentBytes = 0

    /// An artist's track count and the sum of those tracks' embeddings (in double precision, so
    /// that the sum of a long-lived catalogue, changed track by track, does not drift).
    public struct ArtistSum: Sendable, Equatable {
        /// Tracks of the artist.
        public var count: Int
        /// Per float of the embedding, the sum over the artist's tracks.
        public var sums: [Double]

        /// An artist's sum.
        public init(count: Int, sums: [Double]) {
            self.count = count
            self.sums = sums
        }

        /// The mean embedding, nil without tracks.
        public var mean: [Float]? {
            guard count > 0 else { return nil }
            let n = Double(count)
            return sums.map { Float($0 / n) }
        }

        /// Adds (sign 1) or takes away (sign -1) one track's embedding.
        public mutating func add(_ embedding: ArraySlice<Float>, sign: Double) {
            count += sign > 0 ? 1 : -1
            precondition(embedding.count == sums.count, "an embedding of the sum's width")
            sums.withUnsafeMutableBufferPointer { s in
                embedding.withUnsafeBufferPointer { e in
                    for k in 0..<e.count { s[k] += sign * Double(e[k]) }
                }
            }
        }
    }

    /// An empty table.
    public init(batchID: String, dims: ModelManifest.EmbeddingDims, derivesArtistMeans: Bool = true) {
        self.batchID = batchID
        self.dims = dims
        self.derivesArtistMeans = derivesArtistMeans
        self.embeddings = ChunkedRows(width: dims.audio + dims.collaborative)
    }

    /// Number of tracks held.
    public var count: Int { index.count }

    /// Estimated memory of one held track: its floats, its id and artist id, and the index entry.
    public func trackBytes(trackID: [UInt8], artistID: [UInt8]) -> Int { width * 4 + trackID.count + artistID.count + 80 }

    /// Estimated memory of one held artist sum.
    public var artistBytes: Int { width * 8 + 96 }

    /// The slot of a track, nil if unknown.
    @inlinable
    public func slot(of trackID: [UInt8]) -> Int32? { lookup(trackID) }

    @usableFromInline
    func lookup(_ trackID: [UInt8]) -> Int32? { index[trackID] }

    /// Whether the table holds a track.
    public func contains(_ trackID: [UInt8]) -> Bool { index[trackID] != nil }

    /// Calls `body` with a track's embedding (audio then collaborative).
    public func withEmbedding<R>(slot: Int32, _ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try embeddings.withRow(Int(slot), body)
    }

    /// A copy of a track's embedding, nil if unknown.
    public func embedding(of trackID: [UInt8]) -> [Float]? {
        guard let s = index[trackID] else { return nil }
        return withEmbedding(slot: s) { Array($0) }
    }

    /// Artist of a track, nil if unknown.
    public func artist(of trackID: [UInt8]) -> [UInt8]? {
        index[trackID].map { artists[Int($0)] }
    }

    /// Mean embedding of an artist's tracks, nil if the table holds none of them.
    public func artistMean(_ artistID: [UInt8]) -> [Float]? { artistSums[artistID]?.mean }

    /// The sum of an artist's tracks, nil if the table holds none.
    public func artistSum(_ artistID: [UInt8]) -> ArtistSum? { artistSums[artistID] }

    /// Whether the table holds an artist sum (for a cache: whether it was set).
    public func holdsArtist(_ artistID: [UInt8]) -> Bool { artistSums[artistID] != nil }

    /// Artists held.
    public var artistCount: Int { artistSums.count }

    /// Sets (or, with nil or no tracks, removes) an artist's sum; for a table that does not derive
    /// them.
    public mutating func setArtist(_ artistID: [UInt8], _ sum: ArtistSum?) {
        if artistSums[artistID] != nil { residentBytes -= artistBytes }
        if let sum, sum.count > 0 {
            artistSums[artistID] = sum
            residentBytes += artistBytes
        } else {
            artistSums[artistID] = nil
        }
    }

    /// Removes every artist sum (for a cache; its owner sets them again as needed).
    public mutating func removeAllArtists() {
        residentBytes -= artistSums.count * artistBytes
        artistSums.removeAll()
    }

    private mutating func adjustArtist(_ artistID: [UInt8], _ embedding: ArraySlice<Float>, sign: Double) {
        guard derivesArtistMeans else { return }
        var entry = artistSums[artistID] ?? ArtistSum(count: 0, sums: [Double](repeating: 0, count: width))
        entry.add(embedding, sign: sign)
        setArtist(artistID, entry)
    }

    /// Inserts or replaces a track. `embedding` must hold `width` floats.
    public mutating func upsert(trackID: [UInt8], artistID: [UInt8], embedding: [Float]) {
        precondition(embedding.count == width)
        if let s = index[trackID] {
            adjustArtist(artists[Int(s)], embeddings[Int(s)], sign: -1)
            embeddings.set(Int(s), embedding)
            residentBytes += artistID.count - artists[Int(s)].count
            artists[Int(s)] = artistID
            adjustArtist(artistID, embedding[...], sign: 1)
            return
        }
        adjustArtist(artistID, embedding[...], sign: 1)
        residentBytes += trackBytes(trackID: trackID, artistID: artistID)
        if let s = freeSlots.popLast() {
            index[trackID] = s
            embeddings.set(Int(s), embedding)
            artists[Int(s)] = artistID
            return
        }
        index[trackID] = Int32(artists.count)
        embeddings.append(embedding)
        artists.append(artistID)
    }

    /// Removes a track (a tombstone on the topic, or an eviction from a cache).
    public mutating func remove(trackID: [UInt8]) {
        guard let s = index.removeValue(forKey: trackID) else { return }
        adjustArtist(artists[Int(s)], embeddings[Int(s)], sign: -1)
        residentBytes -= trackBytes(trackID: trackID, artistID: artists[Int(s)])
        freeSlots.append(s)
        artists[Int(s)] = []
    }

    /// Removes tracks until the table holds at most `targetBytes` (a cache's sweep): first those
    /// whose slot `evictFirst` picks, then any. Returns how many went.
    @discardableResult
    public mutating func removeTracks(downTo targetBytes: Int, evictingFirst evictFirst: (Int32) -> Bool) -> Int {
        guard residentBytes > targetBytes else { return 0 }
        var removed = 0
        for preferred in [true, false] {
            let picked = index.filter { !preferred || evictFirst($0.value) }.map(\.key)
            for id in picked {
                guard residentBytes > targetBytes else { return removed }
                remove(trackID: id)
                removed += 1
            }
        }
        return removed
    }
}
