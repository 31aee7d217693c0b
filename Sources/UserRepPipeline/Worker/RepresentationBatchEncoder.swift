// Turns a batch of user states into representation records with one encoder pass (pure + BLAS).
import Foundation
import UserRepModel
import UserRepState

/// Computes every user's features at their newest event time and encodes them in one batch.
public struct RepresentationBatchEncoder: Sendable {
    /// The model.
    public let model: EncoderModel
    /// Threads a batch is encoded on.
    public let threads: Int

    /// Creates an encoder for `model` that spreads each batch over `threads` threads.
    public init(model: EncoderModel, threads: Int = 1) {
        self.model = model
        self.threads = threads
    }

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

    /// Writes `user`'s encoder input (before normalization) at `computeTimeMs` into `row`: the
    /// worker's one feature code path, which `features export` calls too. `aggregates` is scratch
    /// space, one per horizon of the layout.
    public static func fillFeatures(
        of user: UserState, at computeTimeMs: Int64, layout: FeatureLayout, tracks: TrackTable, aggregates: inout [HorizonAggregate],
        into row: UnsafeMutableBufferPointer<Float>
    ) {
        user.tiles.aggregate(horizons: layout.horizons, at: computeTimeMs, into: &aggregates)
        layout.fill(row: row, aggregates: aggregates, context: context(of: user, tracks: tracks), computeTimeMs: computeTimeMs)
    }

    /// Fewest rows a batch is split into for another thread: below this, a GEMM's fixed costs
    /// (packing the weights) outweigh the second core.
    static let minimumBlockRows = 32

    /// Rows per block for `users` users: `EncoderModel.blockRows`, or fewer so that a small batch
    /// (a cycle of a worker that keeps up) still spreads over every thread.
    func blockRows(users: Int) -> Int {
        min(EncoderModel.blockRows, users, max(Self.minimumBlockRows, (users + threads - 1) / max(1, threads)))
    }

    /// The vectors of all states, row major (`users.count × outputSize`). Users are encoded in
    /// blocks (`blockRows(users:)`), each block's features built just before its GEMMs (so they
    /// are still in cache), blocks spread over `threads` threads.
    /// `asOf` gives each user's compute time (default: their newest event time).
    public func encodeVectors(_ users: [UserState], tracks: TrackTable, asOf: [Int64]? = nil) -> [Float] {
        guard !users.isEmpty else { return [] }
        let model = self.model
        let n = model.inputSize, dim = model.outputSize, block = blockRows(users: users.count)
        var output = [Float](repeating: 0, count: users.count * dim)
        output.withUnsafeMutableBufferPointer { all in
            let target = DisjointWrites(all)
            ParallelLoop.run(count: (users.count + block - 1) / block, threads: threads) { next in
                var input = [Float](repeating: 0, count: block * n)
                var scratch = EncoderScratch(model: model, rows: block)
                var timing = EncoderTiming()
                var aggregates = model.layout.horizons.map { _ in HorizonAggregate(width: model.layout.listenWidth) }
                while let b = next() {
                    let first = b * block, rows = min(block, users.count - first)
                    input.withUnsafeMutableBufferPointer { x in
                        for r in 0..<rows {
                            let u = first + r
                            Self.fillFeatures(
                                of: users[u], at: asOf?[u] ?? users[u].newestEventTimeMs, layout: model.layout, tracks: tracks,
                                aggregates: &aggregates,
                                into: UnsafeMutableBufferPointer(rebasing: x[(r * n)..<((r + 1) * n)]))
                        }
                        model.encodeBlock(
                            rows: rows, input: x,
                            output: UnsafeMutableBufferPointer(rebasing: target.buffer[(first * dim)..<((first + rows) * dim)]),
                            scratch: &scratch, timing: &timing)
                    }
                }
            }
        }
        return output
    }
}
