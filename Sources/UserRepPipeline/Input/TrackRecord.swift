// A record of the `track-embeddings` topic (schemas/track-embeddings.schema.json) and its parser.

/// One track's embeddings as published on the compacted `track-embeddings` topic.
public struct TrackRecord: Sendable, Equatable {
    /// Track id (also the record key).
    public var trackID: [UInt8]
    /// The track's artist.
    public var artistID: [UInt8]
    /// Embedding batch that produced the embeddings.
    public var batchID: String
    /// Audio embedding.
    public var audio: [Float]
    /// Collaborative embedding.
    public var collaborative: [Float]

    /// Creates a record.
    public init(trackID: [UInt8], artistID: [UInt8], batchID: String, audio: [Float], collaborative: [Float]) {
        self.trackID = trackID
        self.artistID = artistID
        self.batchID = batchID
        self.audio = audio
        self.collaborative = collaborative
    }

    /// Parses and validates a JSON record against the configured dimensions.
    public static func parse(_ bytes: UnsafeRawBufferPointer, audioDims: Int, collaborativeDims: Int) throws(InputRejection) -> TrackRecord
    {
        var track: [UInt8]?, artist: [UInt8]?, batch: [UInt8]?
        var audio: [Float] = [], collab: [Float] = []
        var haveAudio = false, haveCollab = false
        let known: Set<String> = ["track_id", "artist_id", "batch_id", "audio", "collaborative"]
        try JSONReader.readRecord(
            bytes, fields: known,
            read: { name, r in
                switch name {
                case "track_id": track = try r.readString(maxBytes: 256)
                case "artist_id": artist = try r.readString(maxBytes: 256)
                case "batch_id": batch = try r.readString(maxBytes: 256)
                case "audio": try r.readFloatArray(maxCount: audioDims, into: &audio); haveAudio = true
                default: try r.readFloatArray(maxCount: collaborativeDims, into: &collab); haveCollab = true
                }
            })
        guard let track else { throw InputRejection(.missingField, "track_id is required") }
        guard !track.isEmpty else { throw InputRejection(.invalidField, "track_id must not be empty") }
        guard let artist else { throw InputRejection(.missingField, "artist_id is required") }
        guard let batch else { throw InputRejection(.missingField, "batch_id is required") }
        guard haveAudio, audio.count == audioDims else {
            throw InputRejection(haveAudio ? .invalidField : .missingField, "audio must hold \(audioDims) numbers, got \(audio.count)")
        }
        guard haveCollab, collab.count == collaborativeDims else {
            throw InputRejection(
                haveCollab ? .invalidField : .missingField, "collaborative must hold \(collaborativeDims) numbers, got \(collab.count)")
        }
        try checkMagnitudes(audio + collab, track: track)
        return TrackRecord(
            trackID: track, artistID: artist, batchID: String(decoding: batch, as: UTF8.self), audio: audio, collaborative: collab)
    }

    /// The largest embedding value a track may hold. A user's tile sums its listens' embeddings
    /// (up to 2^32 of them), so larger values could overflow a float to infinity: a NaN vector,
    /// and a tile record no restore can read. Real embeddings are many orders of magnitude smaller.
    public static let maxMagnitude: Float = 1e6

    /// Refuses (`invalid-field`) a value that is not finite or above `maxMagnitude` in size.
    static func checkMagnitudes(_ values: [Float], track: [UInt8]) throws(InputRejection) {
        guard let bad = values.first(where: { !$0.isFinite || abs($0) > maxMagnitude }) else { return }
        throw InputRejection(
            .invalidField,
            "embedding value \(bad) of track \(String(decoding: track, as: UTF8.self)) is outside ±\(maxMagnitude) (larger values overflow a user's sums)"
        )
    }

    /// The batch id and embedding lengths of a record, read without the dimension limits (for
    /// telling a track table of other dimensions from bad records); nil if it is not readable.
    public static func dimensions(_ bytes: UnsafeRawBufferPointer) -> (batchID: String, audio: Int, collaborative: Int)? {
        var batch: [UInt8]?
        var audio: [Float] = [], collab: [Float] = []
        do {
            try JSONReader.readRecord(
                bytes, fields: ["batch_id", "audio", "collaborative"],
                read: { name, r in
                    switch name {
                    case "batch_id": batch = try r.readString(maxBytes: 256)
                    case "audio": try r.readFloatArray(maxCount: 1 << 16, into: &audio)
                    default: try r.readFloatArray(maxCount: 1 << 16, into: &collab)
                    }
                })
        } catch {
            return nil
        }
        return batch.map { (String(decoding: $0, as: UTF8.self), audio.count, collab.count) }
    }

    /// Serializes the record as schema JSON.
    public func json() -> [UInt8] {
        func floats(_ v: [Float]) -> String { "[" + v.map { "\($0)" }.joined(separator: ",") + "]" }
        return Array(
            "{\"track_id\":\(JSONText.quote(trackID)),\"artist_id\":\(JSONText.quote(artistID)),\"batch_id\":\(JSONText.quote(batchID)),\"audio\":\(floats(audio)),\"collaborative\":\(floats(collaborative))}"
                .utf8)
    }
}
