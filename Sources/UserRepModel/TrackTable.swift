// The track-embedding table: every track's audio and collaborative embedding, for one batch.

/// Track embeddings of one embedding batch, stored contiguously (audio then collaborative per
/// track) and indexed by track id. Also keeps, per artist, the tracks that belong to them.
public struct TrackTable: Sendable {
    /// The embedding batch this table holds; records of other batches are refused.
    public let batchID: String
    /// Embedding dimensions.
    public let dims: ModelManifest.EmbeddingDims
    /// Floats per track.
    public var width: Int { dims.audio + dims.collaborative }
    private var index: [[UInt8]: Int32] = [:]
    private var embeddings: [Float] = []
    private var artists: [[UInt8]] = []
    private var freeSlots: [Int32] = []
    private var artistSums: [[UInt8]: (count: Int, sums: [Float])] = [:]

    /// An empty table.
    public init(batchID: String, dims: ModelManifest.EmbeddingDims) {
        self.batchID = batchID
        self.dims = dims
    }

    /// Number of tracks held.
    public var count: Int { index.count }

    /// The slot of a track, nil if unknown.
    @inlinable
    public func slot(of trackID: [UInt8]) -> Int32? { lookup(trackID) }

    @usableFromInline
    func lookup(_ trackID: [UInt8]) -> Int32? { index[trackID] }

    /// Calls `body` with a track's embedding (audio then collaborative).
    public func withEmbedding<R>(slot: Int32, _ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        let start = Int(slot) * width
        return try embeddings.withUnsafeBufferPointer { all in
            try body(UnsafeBufferPointer(rebasing: all[start..<(start + width)]))
        }
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
    public func artistMean(_ artistID: [UInt8]) -> [Float]? {
        guard let entry = artistSums[artistID], entry.count > 0 else { return nil }
        let scale = 1 / Float(entry.count)
        return entry.sums.map { $0 * scale }
    }

    private mutating func adjustArtist(_ artistID: [UInt8], _ embedding: ArraySlice<Float>, sign: Float) {
        var entry = artistSums[artistID] ?? (0, [Float](repeating: 0, count: width))
        entry.count += sign > 0 ? 1 : -1
        for (k, v) in embedding.enumerated() { entry.sums[k] += sign * v }
        artistSums[artistID] = entry.count > 0 ? entry : nil
    }

    /// Inserts or replaces a track. `embedding` must hold `width` floats.
    public mutating func upsert(trackID: [UInt8], artistID: [UInt8], embedding: [Float]) {
        precondition(embedding.count == width)
        if let s = index[trackID] {
            let start = Int(s) * width
            adjustArtist(artists[Int(s)], embeddings[start..<(start + width)], sign: -1)
            embeddings.replaceSubrange(start..<(start + width), with: embedding)
            artists[Int(s)] = artistID
            adjustArtist(artistID, embedding[...], sign: 1)
            return
        }
        adjustArtist(artistID, embedding[...], sign: 1)
        if let s = freeSlots.popLast() {
            index[trackID] = s
            let start = Int(s) * width
            embeddings.replaceSubrange(start..<(start + width), with: embedding)
            artists[Int(s)] = artistID
            return
        }
        index[trackID] = Int32(artists.count)
        embeddings.append(contentsOf: embedding)
        artists.append(artistID)
    }

    /// Removes a track (a tombstone on the topic).
    public mutating func remove(trackID: [UInt8]) {
        guard let s = index.removeValue(forKey: trackID) else { return }
        let start = Int(s) * width
        adjustArtist(artists[Int(s)], embeddings[start..<(start + width)], sign: -1)
        freeSlots.append(s)
        artists[Int(s)] = []
    }
}
