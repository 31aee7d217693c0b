// Turns a batch of user states into representation records with one encoder pass (pure + BLAS).
import Foundation
import UserRepModel
import UserRepState

/// Computes every user's features at their newest event time and encodes them in one batch.
public struct RepresentationBatchEncoder: Sendable {
    /// The model.
    public let model: EncoderModel

    /// Creates an encoder for `model`.
    public init(model: EncoderModel) { self.model = model }

    /// The user's context for the layout: profile fields plus the mean of the picked artists'
    /// embeddings in the current track table (unknown artists are skipped).
    public static func context(of state: UserState, tracks: TrackTable) -> UserContext {
        let p = state.profile
        var artist: [Float]?
        var known = 0
        for id in p.artists {
            guard let mean = tracks.artistMean(id) else { continue }
            if artist == nil { artist = [Float](repeating: 0, count: mean.count) }
            for k in mean.indices { artist?[k] += mean[k] }
            known += 1
        }
        if known > 1, let sum = artist { artist = sum.map { $0 / Float(known) } }
        return UserContext(signupTimeMs: p.signupTimeMs, country: p.country, languages: p.languages, artistEmbedding: artist)
    }

    /// The vectors of all states, row major (`users.count × outputSize`), in one encoder pass.
    public func encodeVectors(_ users: [(UserKey, UserState)], tracks: TrackTable) -> [Float] {
        guard !users.isEmpty else { return [] }
        let n = model.inputSize
        var input = [Float](repeating: 0, count: users.count * n)
        var aggregates = model.layout.horizons.map { _ in HorizonAggregate(width: model.layout.listenWidth) }
        input.withUnsafeMutableBufferPointer { rows in
            for (i, (_, state)) in users.enumerated() {
                state.tiles.aggregate(horizons: model.layout.horizons, at: state.newestEventTimeMs, into: &aggregates)
                model.layout.fill(row: UnsafeMutableBufferPointer(rebasing: rows[(i * n)..<((i + 1) * n)]), aggregates: aggregates,
                                  context: Self.context(of: state, tracks: tracks), computeTimeMs: state.newestEventTimeMs)
            }
        }
        return model.encode(rows: users.count, input: &input)
    }
}
