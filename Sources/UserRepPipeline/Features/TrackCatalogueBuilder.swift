// `userrep tracks build`: a track table for a catalogue without an embedding service.
import Foundation
import UserRepModel

/// Builds track records from listens (collaborative half: co-occurrence in users' histories
/// before a cut-off, `CooccurrenceEmbedding`) and optional content vectors (the "audio" half,
/// e.g. from metadata). Dense in items × items, so for catalogues up to `maxItems` tracks.
public struct TrackCatalogueBuilder {
    /// Largest catalogue the dense PPMI matrix is built for (20k items: 3.2 GB of doubles).
    public static let maxItems = 20_000
    /// Content of one track: its artist and its content vector.
    public struct Content: Sendable {
        /// Artist id.
        public let artistID: [UInt8]
        /// Content vector (padded with zeros or cut to the audio width).
        public let vector: [Float]

        /// Creates a content entry.
        public init(artistID: [UInt8], vector: [Float]) {
            self.artistID = artistID
            self.vector = vector
        }
    }

    /// Embedding dimensions to write.
    public let dims: ModelManifest.EmbeddingDims
    /// Embedding batch id of the records.
    public let batchID: String

    /// A builder for records of `dims` in batch `batchID`.
    public init(dims: ModelManifest.EmbeddingDims, batchID: String) {
        self.dims = dims
        self.batchID = batchID
    }

    /// One record per track seen in `listens` or `content`, sorted by id. Only listens at or
    /// before `untilMs` count towards co-occurrence (tracks first played later get zero
    /// collaborative rows: nothing was known of them then).
    public func build(listens: [ListenEvent], untilMs: Int64?, content: [[UInt8]: Content]) throws -> [TrackRecord] {
        var ids = Set(content.keys)
        for l in listens { ids.insert(l.trackID) }
        let sorted = ids.sorted { $0.lexicographicallyPrecedes($1) }
        guard !sorted.isEmpty else { throw WorkerError("no tracks: the listens file is empty and no content was given") }
        guard sorted.count <= Self.maxItems else {
            throw WorkerError("\(sorted.count) tracks: more than the \(Self.maxItems) the dense co-occurrence matrix is built for")
        }
        let index = Dictionary(uniqueKeysWithValues: sorted.enumerated().map { ($1, $0) })
        var histories: [[UInt8]: [Int]] = [:]
        for l in listens where untilMs.map({ l.timestampMs <= $0 }) ?? true {
            if let i = index[l.trackID] { histories[l.userID, default: []].append(i) }
        }
        let collaborative = try CooccurrenceEmbedding.build(
            histories: histories.keys.sorted { $0.lexicographicallyPrecedes($1) }.compactMap { histories[$0] }, items: sorted.count,
            dims: dims.collaborative)
        return sorted.enumerated().map { i, id in
            let c = content[id]
            var audio = c?.vector ?? []
            audio = Array(audio.prefix(dims.audio)) + [Float](repeating: 0, count: max(0, dims.audio - audio.count))
            return TrackRecord(
                trackID: id, artistID: c?.artistID ?? id, batchID: batchID, audio: audio,
                collaborative: Array(collaborative[(i * dims.collaborative)..<((i + 1) * dims.collaborative)]))
        }
    }
}
