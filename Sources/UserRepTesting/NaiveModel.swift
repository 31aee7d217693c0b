// An independent recomputation of the worker's vectors, for checking it: plain Double loops over
// raw events and the model files, sharing no code with the feature or encoder path.
import Foundation
import UserRepModel
import UserRepPipeline

/// Independent reference implementation: features from raw events by the documented window rule,
/// then the MLP in plain Double loops, straight from the model files.
public struct NaiveModel: Sendable {
    /// The model's manifest.
    public let manifest: ModelManifest
    let weights: SafeTensors
    /// Each track's audio + collaborative embedding.
    let tracks: [String: [Float]]
    /// Mean embedding of each artist's tracks, in Double.
    let artistMeans: [String: [Double]]

    /// Reads the model files at `manifestURL` and the track catalogue.
    public init(manifestURL: URL, tracks: [TrackRecord]) throws {
        let data = try Data(contentsOf: manifestURL)
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        manifest = try decoder.decode(ModelManifest.self, from: data)
        weights = try SafeTensors(contentsOf: manifestURL.deletingLastPathComponent().appendingPathComponent(manifest.weights))
        var t: [String: [Float]] = [:]
        var byArtist: [String: [[Float]]] = [:]
        for r in tracks {
            t[String(decoding: r.trackID, as: UTF8.self)] = r.audio + r.collaborative
            byArtist[String(decoding: r.artistID, as: UTF8.self), default: []].append(r.audio + r.collaborative)
        }
        self.tracks = t
        artistMeans = byArtist.mapValues { list in
            (0..<list[0].count).map { k in list.reduce(0) { $0 + Double($1[k]) } / Double(list.count) }
        }
    }

    /// The vector of a user whose listens are `events` and onboarding events `onboarding`
    /// (arrival order), computed at their newest event time, or at `asOf` if that is later (a
    /// timer-triggered vector).
    public func vector(for events: [ListenEvent], onboarding: [OnboardingEvent] = [], asOf: Int64? = nil) throws -> [Double] {
        let ref = events.map(\.timestampMs).max() ?? Int64.min
        let now = max(ref, onboarding.map(\.timestampMs).max() ?? Int64.min, asOf ?? Int64.min)
        let audio = manifest.embeddingDims.audio, collab = manifest.embeddingDims.collaborative
        let devices = DeviceClass.allCases.count
        // Profile, by the documented rules: first onboarding = sign-up, newest picks win, newest country wins.
        let signup = onboarding.map(\.timestampMs).min()
        var picks: OnboardingEvent?
        for e in onboarding where e.timestampMs >= (picks?.timestampMs ?? Int64.min) { picks = e }
        var country: (time: Int64, code: [UInt8])?
        var stream: [(Int64, [UInt8]?)] = onboarding.map { ($0.timestampMs, $0.country) }
        stream += events.map { ($0.timestampMs, $0.country) }
        for (t, c) in stream { if let c, t >= (country?.time ?? Int64.min) { country = (t, c) } }
        let picksActive = signup.map { now - $0 < manifest.onboardingPeriodMs } ?? false

        var x = [Double](repeating: 0, count: manifest.layers[0])
        var imputed = Set<String>()
        func impute(_ g: FeatureGroup) {
            imputed.insert(g.name)
            for k in 0..<g.size { x[g.offset + k] = Double(g.imputation?[k] ?? 0) }
        }
        for g in manifest.features where g.kind != .imputedIndicators {
            if g.horizon != nil {
                typealias Listens = (count: Double, sums: [Double], devices: [Double])
                // The listens of a group's horizon.
                func listens(_ group: FeatureGroup) throws -> Listens {
                    guard let name = group.horizon, let horizon = Horizon.named(name) else { throw NaiveModelError("bad horizon of \(group.name)") }
                    var count = 0.0
                    var sums = [Double](repeating: 0, count: audio + collab)
                    var deviceCounts = [Double](repeating: 0, count: devices)
                    for e in events
                    where TilePolicy.listenCounts(eventTimeMs: e.timestampMs, referenceTimeMs: ref, horizon: horizon, computeTimeMs: now) {
                        count += 1
                        let emb = try track(e.trackID)
                        for k in sums.indices { sums[k] += Double(emb[k]) }
                        if let d = e.device { deviceCounts[DeviceClass(name: d).rawValue] += 1 }
                    }
                    return (count, sums, deviceCounts)
                }
                // The group's value by the documented recursion: its own mean when it has listens and
                // no fallback, else its fallback's value (itself defined so), blended as
                // (sum + k · fallback) / (weight + k) with k = priorListens when both exist; nil when
                // no group of the chain has data. Taking only the fallback's value counts as imputed.
                func value(_ group: FeatureGroup, weight: (Listens) -> Double, sums: (Listens) -> [Double], depth: Int = 0) throws -> [Double]? {
                    let own = try listens(group)
                    let w = weight(own)
                    let longer = try group.fallback.flatMap { name in manifest.features.first { $0.name == name } }
                        .flatMap { depth < manifest.features.count ? try value($0, weight: weight, sums: sums, depth: depth + 1) : nil }
                    guard w > 0 else { return longer }
                    let k = Double(group.priorListens ?? 0)
                    guard let longer, k > 0 else { return sums(own).map { $0 / w } }
                    return zip(sums(own), longer).map { ($0 + k * $1) / (w + k) }
                }
                let weight: (Listens) -> Double
                let sums: (Listens) -> [Double]
                switch g.kind {
                case .playCountLog1p:
                    x[g.offset] = log1p(try listens(g).count)
                    continue
                case .audioMean, .collaborativeMean:
                    let base = g.kind == .audioMean ? 0 : audio
                    weight = { $0.count }
                    sums = { Array($0.sums[base..<(base + g.size)]) }
                case .deviceMix:
                    weight = { $0.devices.reduce(0, +) }
                    sums = { $0.devices }
                default: throw NaiveModelError("unexpected per-horizon feature kind \(g.kind)")
                }
                guard let v = try value(g, weight: weight, sums: sums) else { impute(g); continue }
                if weight(try listens(g)) == 0 { imputed.insert(g.name) }
                for k in 0..<g.size { x[g.offset + k] = v[k] }
                continue
            }
            switch g.kind {
            case .country:
                guard let code = country?.code else { impute(g); continue }
                let slot = (manifest.countries ?? []).firstIndex(of: String(decoding: code, as: UTF8.self)) ?? g.size - 1
                for k in 0..<g.size { x[g.offset + k] = k == slot ? 1 : 0 }
            case .accountAgeLog1pDays:
                guard let signup else { impute(g); continue }
                x[g.offset] = log1p(Double(max(0, now - signup)) / 86_400_000)
            case .onboardingLanguages:
                guard picksActive, let picks, !picks.languages.isEmpty else { impute(g); continue }
                for (k, language) in (manifest.languages ?? []).enumerated() {
                    x[g.offset + k] = picks.languages.contains(Array(language.utf8)) ? 1 : 0
                }
            case .onboardingArtistAudio, .onboardingArtistCollaborative:
                let means = (picks?.artistIDs ?? []).compactMap { artistMeans[String(decoding: $0, as: UTF8.self)] }
                guard picksActive, !means.isEmpty else { impute(g); continue }
                let base = g.kind == .onboardingArtistAudio ? 0 : audio
                for k in 0..<g.size { x[g.offset + k] = means.reduce(0) { $0 + $1[base + k] } / Double(means.count) }
            default: throw NaiveModelError("unexpected feature kind \(g.kind)")
            }
        }
        for g in manifest.features where g.kind == .imputedIndicators {
            for (k, name) in (g.covers ?? []).enumerated() { x[g.offset + k] = imputed.contains(name) ? 1 : 0 }
        }
        if let norm = manifest.normalization {
            let mean = try tensor(norm.mean), std = try tensor(norm.std)
            for k in x.indices { x[k] = (x[k] - Double(mean[k])) / Double(std[k]) }
        }
        for i in 0..<(manifest.layers.count - 1) {
            let w = try tensor(ModelManifest.weightTensor(i))
            let b = try tensor(ModelManifest.biasTensor(i))
            let n = manifest.layers[i], out = manifest.layers[i + 1]
            let last = i == manifest.layers.count - 2
            x = (0..<out).map { o in
                var s = Double(b[o])
                for k in 0..<n { s += Double(w[o * n + k]) * x[k] }
                if last || s > 0 { return last ? s : 1.0507009873554805 * s }
                return 1.0507009873554805 * 1.6732632423543772 * (exp(s) - 1)
            }
        }
        return x
    }

    private func track(_ id: [UInt8]) throws -> [Float] {
        guard let t = tracks[String(decoding: id, as: UTF8.self)] else {
            throw NaiveModelError("track \(String(decoding: id, as: UTF8.self)) is not in the catalogue")
        }
        return t
    }

    private func tensor(_ name: String) throws -> [Float] {
        guard let t = weights.tensors[name] else { throw NaiveModelError("the weights have no tensor \(name)") }
        return t.values
    }
}

/// The reference computation met something it does not know (a test set-up error).
public struct NaiveModelError: Error, CustomStringConvertible {
    /// What was wrong.
    public let description: String
    init(_ description: String) { self.description = description }
}
