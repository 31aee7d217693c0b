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

    /// The model's input row for one user, computed at the user's newest event time.
    public func features(of state: UserState) -> [Float] {
        var row = [Float](repeating: 0, count: model.inputSize)
        let aggregates = state.tiles.aggregate(horizons: model.layout.horizons, at: state.newestEventTimeMs)
        row.withUnsafeMutableBufferPointer { model.layout.fill(row: $0, aggregates: aggregates) }
        return row
    }

    /// One record per state, in order.
    public func encode(_ users: [(UserKey, UserState)], trigger: RepresentationTrigger, computeTimeMs: Int64) -> [RepresentationRecord] {
        let out = model.outputSize
        let vectors = encodeVectors(users)
        return users.enumerated().map { i, entry in
            RepresentationRecord(
                userID: entry.0.userIDString, batchID: model.batchID, embeddingBatchID: model.manifest.embeddingBatchId,
                vector: Array(vectors[(i * out)..<((i + 1) * out)]), eventTimeMs: entry.1.newestEventTimeMs,
                computeTimeMs: computeTimeMs, updateSequence: entry.1.updateSequence, trigger: trigger)
        }
    }

    /// The vectors of all states, row major (`users.count × outputSize`), in one encoder pass.
    public func encodeVectors(_ users: [(UserKey, UserState)]) -> [Float] {
        guard !users.isEmpty else { return [] }
        let n = model.inputSize
        var input = [Float](repeating: 0, count: users.count * n)
        var aggregates = model.layout.horizons.map { _ in HorizonAggregate(width: model.layout.dims.audio + model.layout.dims.collaborative) }
        input.withUnsafeMutableBufferPointer { rows in
            for (i, (_, state)) in users.enumerated() {
                state.tiles.aggregate(horizons: model.layout.horizons, at: state.newestEventTimeMs, into: &aggregates)
                model.layout.fill(row: UnsafeMutableBufferPointer(rebasing: rows[(i * n)..<((i + 1) * n)]), aggregates: aggregates)
            }
        }
        return model.encode(rows: users.count, input: &input)
    }
}
