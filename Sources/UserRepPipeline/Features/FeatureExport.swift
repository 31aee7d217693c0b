// Exports every user's encoder input from a state store, through the worker's own feature code.
import Foundation
import UserRepModel
import UserRepState

/// Writes the features file (`FeatureFile`) and a JSON-lines profile file for every user of a
/// state store, computed by `RepresentationBatchEncoder.fillFeatures`: exactly what the worker
/// feeds its encoder, so a model trained on them is served the same features.
public struct FeatureExport {
    /// The model whose layout the features follow.
    public let model: EncoderModel
    /// Tracks (for the picked artists' mean embeddings).
    public let tracks: TrackTable
    /// One compute time for every user (windows of silent users age), or nil for each user's newest event.
    public let asOfMs: Int64?
    /// Per user, the event times and artists of their listens (from a listens file), for the
    /// profiles' most-played artist per window; nil leaves it out. The state keeps no per-artist
    /// counts (its tiles hold embedding sums), so this comes from the events themselves.
    public var artistHistory: [[UInt8]: [(timeMs: Int64, artist: [UInt8])]]?

    /// An export with `model`'s layout.
    public init(model: EncoderModel, tracks: TrackTable, asOfMs: Int64?) {
        self.model = model
        self.tracks = tracks
        self.asOfMs = asOfMs
    }

    /// The `artistHistory` of `listens`, artists from `tracks` (listens of unknown tracks are left out).
    public static func artistHistory(listens: [ListenEvent], tracks: TrackTable) -> [[UInt8]: [(timeMs: Int64, artist: [UInt8])]] {
        var history: [[UInt8]: [(timeMs: Int64, artist: [UInt8])]] = [:]
        for l in listens {
            if let artist = tracks.artist(of: l.trackID) { history[l.userID, default: []].append((l.timestampMs, artist)) }
        }
        return history
    }

    /// What an export wrote.
    public struct Summary: Sendable {
        /// Users exported.
        public let users: Int
        /// Users whose newest event is after `asOfMs` (exported at that event instead).
        public let newerThanAsOf: Int
        /// Per window inside the next longer one (1w in 1m, 1m in 6m): the `prior_listens` the
        /// users' own windows suggest (`PriorFit`).
        public let priorFits: [WindowPriorFit]
    }

    /// The prior fitted for one window inside the next longer one.
    public struct WindowPriorFit: Sendable {
        /// The shorter window's name.
        public let short: String
        /// The longer window's name.
        public let long: String
        /// The fit over the exported users.
        public let fit: PriorFit
    }

    /// Exports `store` to `features` and `profiles` (both written whole or not at all);
    /// `progress(done, total)` is called as users are written.
    public func run(store: StateStore, features: URL, profiles: URL, progress: (Int, Int) -> Void) throws -> Summary {
        var ids: [[UInt8]] = []
        var idBytes = 0
        try store.forEachUserKey { key in
            ids.append(key.userID)
            idBytes += key.userID.count
            return true
        }
        guard !ids.isEmpty else { throw WorkerError("the state store holds no users; run `userrep backfill` into it first") }
        var metadata = [
            "embedding_batch_id": model.manifest.embeddingBatchId, "model_batch_id": model.batchID,
            "as_of_ms": asOfMs.map(String.init) ?? "newest-event",
            "manifest": String(decoding: try model.manifest.encoded(), as: UTF8.self),
        ]
        metadata["feature_groups"] = model.manifest.features.map { "\($0.name):\($0.offset)+\($0.size)" }.joined(separator: ",")
        let writer = try FeatureFile.Writer(
            url: features, rows: ids.count, inputSize: model.inputSize, idBytes: idBytes, metadata: metadata)
        let profileTemp = profiles.deletingLastPathComponent().appendingPathComponent(
            ".\(profiles.lastPathComponent).\(UUID().uuidString).tmp")
        var done = 0, newer = 0
        var priorFits: [WindowPriorFit] = []
        do {
            guard FileManager.default.createFile(atPath: profileTemp.path, contents: nil) else {
                throw WorkerError("cannot create \(profileTemp.path)")
            }
            let profileHandle = try FileHandle(forWritingTo: profileTemp)
            defer { try? profileHandle.close() }
            var row = [Float](repeating: 0, count: model.inputSize)
            var aggregates = model.layout.horizons.map { _ in HorizonAggregate(width: model.layout.listenWidth) }
            var lines: [UInt8] = []
            let horizons = model.layout.horizons
            let byLength = horizons.indices.sorted { horizons[$0].lengthMs < horizons[$1].lengthMs }
            let pairs = zip(byLength, byLength.dropFirst()).map { (short: $0, long: $1) }
            var fits = pairs.map { _ in PriorFit() }
            let embeddingWidth = model.layout.dims.audio + model.layout.dims.collaborative
            try store.forEachUser { key, state in
                let at = max(asOfMs ?? state.newestEventTimeMs, state.newestEventTimeMs)
                if let asOfMs, state.newestEventTimeMs > asOfMs { newer += 1 }
                row.withUnsafeMutableBufferPointer { r in
                    RepresentationBatchEncoder.fillFeatures(
                        of: state, at: at, layout: model.layout, tracks: tracks, aggregates: &aggregates, into: r)
                }
                try row.withUnsafeBufferPointer { try writer.append(userID: key.userID, row: $0) }
                for (p, pair) in pairs.enumerated() {
                    fits[p].add(short: aggregates[pair.short], long: aggregates[pair.long], width: embeddingWidth)
                }
                lines += Self.profileLine(
                    key: key, state: state, at: at, horizons: model.layout.horizons, aggregates: aggregates,
                    history: artistHistory.map { $0[key.userID] ?? [] })
                lines.append(0x0A)
                if lines.count >= 1 << 20 {
                    try profileHandle.write(contentsOf: lines)
                    lines.removeAll(keepingCapacity: true)
                }
                done += 1
                progress(done, ids.count)
                return true
            }
            try profileHandle.write(contentsOf: lines)
            try profileHandle.synchronize()
            priorFits = zip(pairs, fits).map { WindowPriorFit(short: horizons[$0.short].name, long: horizons[$0.long].name, fit: $1) }
            guard done == ids.count else {
                throw WorkerError("the state store changed during the export (\(done) users, \(ids.count) counted)")
            }
            try writer.finish()
            if FileManager.default.fileExists(atPath: profiles.path) { try FileManager.default.removeItem(at: profiles) }
            try FileManager.default.moveItem(at: profileTemp, to: profiles)
        } catch {
            writer.abandon()
            try? FileManager.default.removeItem(at: profileTemp)
            throw error
        }
        return Summary(users: done, newerThanAsOf: newer, priorFits: priorFits)
    }

    /// One user's profile as a JSON line: what the evaluation needs beside the features.
    static func profileLine(
        key: UserKey, state: UserState, at: Int64, horizons: [Horizon], aggregates: [HorizonAggregate],
        history: [(timeMs: Int64, artist: [UInt8])]?
    ) -> [UInt8] {
        let p = state.profile
        func strings(_ list: [[UInt8]]) -> String { "[" + list.map { JSONText.quote($0) }.joined(separator: ",") + "]" }
        let counts = zip(horizons, aggregates).map { "\"\($0.name)\":\($1.count)" }.joined(separator: ",")
        var s = "{\"user_id\":\(JSONText.quote(key.userID)),\"partition\":\(key.partition),\"computed_at_ms\":\(at)"
        s += ",\"newest_event_ms\":\(state.newestEventTimeMs),\"total_listens\":\(state.totalListens),\"play_counts\":{\(counts)}"
        s += ",\"country\":\(p.country.map { JSONText.quote($0) } ?? "null"),\"signup_ms\":\(p.signupTimeMs.map(String.init) ?? "null")"
        s += ",\"picked_artists\":\(strings(p.artists)),\"picked_languages\":\(strings(p.languages))"
        if let history {
            // Each window is (at − length, at], as the tiles' horizons are.
            let top = horizons.map { h in
                let artist = ListenTimeline.mostPlayed(history.lazy.filter { $0.timeMs > at - h.lengthMs && $0.timeMs <= at }.map(\.artist))
                return "\"\(h.name)\":" + (artist.map { JSONText.quote($0) } ?? "null")
            }
            s += ",\"top_artist\":{\(top.joined(separator: ","))}"
        }
        return Array((s + "}").utf8)
    }
}
