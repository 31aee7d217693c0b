// A validated feature layout and the pure function that fills an input row from a user's data.
import Foundation

/// The manifest's feature groups, checked against the embedding dimensions, the vocabularies and
/// the input size, ready to fill input rows.
public struct FeatureLayout: Sendable, Equatable {
    /// Groups ordered by offset.
    public let groups: [FeatureGroup]
    /// Total input size.
    public let inputSize: Int
    /// Distinct horizons the layout reads, in first-use order; aggregates are computed for these.
    public let horizons: [Horizon]
    /// Track embedding dimensions.
    public let dims: ModelManifest.EmbeddingDims
    /// Floats summed per listen: audio, collaborative, then one count per device class.
    public var listenWidth: Int { dims.audio + dims.collaborative + DeviceClass.all.count }
    /// Country vocabulary (index = one-hot slot; unknown countries use the slot after the last).
    public let countries: [[UInt8]: Int]
    /// Language vocabulary (index = multi-hot slot).
    public let languages: [[UInt8]: Int]
    /// How long onboarding picks are used after sign-up.
    public let onboardingPeriodMs: Int64
    private let horizonIndex: [Int]
    /// Per group (in `groups` order): the input positions of the indicators that flag its imputation.
    private let indicatorSlots: [[Int]]
    /// Per group (in `groups` order): its own horizon index, then those of its fallback chain.
    private let horizonChains: [[Int]]
    /// Per group, parallel to `horizonChains`: each chain member's `priorListens` (0 when absent).
    private let priorChains: [[Float]]

    /// Validates the manifest's layout; every mismatch is reported by group name.
    public init(manifest: ModelManifest) throws {
        let dims = manifest.embeddingDims
        let countryList = manifest.countries ?? []
        let languageList = manifest.languages ?? []
        var seen = Set<String>()
        var horizons: [Horizon] = []
        for g in manifest.features {
            guard seen.insert(g.name).inserted else { throw ModelError("feature group '\(g.name)' appears twice") }
            guard FeatureKind.known.contains(g.kind) else {
                throw ModelError(
                    "feature group '\(g.name)' has unknown kind '\(g.kind.rawValue)' (known: \(FeatureKind.known.map(\.rawValue).joined(separator: ", ")))"
                )
            }
            if FeatureKind.perHorizon.contains(g.kind) {
                guard let name = g.horizon, let horizon = Horizon.named(name) else {
                    throw ModelError(
                        "feature group '\(g.name)' needs a horizon, one of \(Horizon.all.map(\.name).joined(separator: ", ")); got \(g.horizon ?? "none")"
                    )
                }
                if !horizons.contains(horizon) { horizons.append(horizon) }
            }
            let expected: Int
            switch g.kind {
            case .audioMean, .onboardingArtistAudio: expected = dims.audio
            case .collaborativeMean, .onboardingArtistCollaborative: expected = dims.collaborative
            case .deviceMix: expected = DeviceClass.all.count
            case .country:
                guard !countryList.isEmpty else { throw ModelError("feature group '\(g.name)' needs the manifest's 'countries' list") }
                expected = countryList.count + 1
            case .onboardingLanguages:
                guard !languageList.isEmpty else { throw ModelError("feature group '\(g.name)' needs the manifest's 'languages' list") }
                expected = languageList.count
            case .imputedIndicators:
                let covers = g.covers ?? []
                guard !covers.isEmpty else { throw ModelError("feature group '\(g.name)' must list the groups it 'covers'") }
                for name in covers {
                    guard let target = manifest.features.first(where: { $0.name == name }) else {
                        throw ModelError("feature group '\(g.name)' covers '\(name)', which is not in the layout")
                    }
                    guard FeatureKind.imputable.contains(target.kind) else {
                        throw ModelError("feature group '\(g.name)' covers '\(name)', whose kind \(target.kind.rawValue) is never imputed")
                    }
                }
                expected = covers.count
            default: expected = 1
            }
            guard g.size == expected else {
                throw ModelError(
                    "feature group '\(g.name)' (\(g.kind.rawValue)) has size \(g.size) but \(Self.sizeReason(g.kind, dims: dims)) require \(expected)"
                )
            }
            if FeatureKind.imputable.contains(g.kind) {
                guard let imputation = g.imputation else {
                    throw ModelError("feature group '\(g.name)' (\(g.kind.rawValue)) can lack data and needs 'imputation' values")
                }
                guard imputation.count == g.size, imputation.allSatisfy(\.isFinite) else {
                    throw ModelError("feature group '\(g.name)' needs \(g.size) finite imputation values, has \(imputation.count)")
                }
            }
            try Self.checkFallback(of: g, in: manifest.features)
        }
        let sorted = manifest.features.sorted { $0.offset < $1.offset }
        var next = 0
        for g in sorted {
            guard g.offset == next else {
                throw ModelError(
                    g.offset < next
                        ? "feature group '\(g.name)' at offset \(g.offset) overlaps the previous group ending at \(next)"
                        : "feature layout has a gap: nothing covers inputs \(next)..<\(g.offset) before group '\(g.name)'")
            }
            next += g.size
        }
        let inputSize = manifest.layers.first ?? 0
        guard next == inputSize else {
            throw ModelError("feature layout covers \(next) inputs but the first layer takes \(inputSize)")
        }
        if let days = manifest.onboardingPeriodDays, days < 0 {
            throw ModelError("onboarding_period_days must not be negative, got \(days)")
        }
        self.groups = sorted
        self.inputSize = inputSize
        self.horizons = horizons
        self.dims = dims
        self.countries = Dictionary(countryList.enumerated().map { (Array($1.utf8), $0) }, uniquingKeysWith: { a, _ in a })
        self.languages = Dictionary(languageList.enumerated().map { (Array($1.utf8), $0) }, uniquingKeysWith: { a, _ in a })
        self.onboardingPeriodMs = manifest.onboardingPeriodMs
        self.horizonIndex = sorted.map { g in horizons.firstIndex { $0.name == g.horizon } ?? -1 }
        var slots = sorted.map { _ in [Int]() }
        for indicator in sorted where indicator.kind == .imputedIndicators {
            for (k, name) in (indicator.covers ?? []).enumerated() {
                if let target = sorted.firstIndex(where: { $0.name == name }) { slots[target].append(indicator.offset + k) }
            }
        }
        self.indicatorSlots = slots
        let horizonIndex = self.horizonIndex
        let horizonOf = Dictionary(uniqueKeysWithValues: sorted.indices.map { (sorted[$0].name, horizonIndex[$0]) })
        let fallbackOf = Dictionary(uniqueKeysWithValues: sorted.map { ($0.name, $0.fallback) })
        let priorOf = Dictionary(uniqueKeysWithValues: sorted.map { ($0.name, $0.priorListens ?? 0) })
        let chains = sorted.indices.map { i in
            var chain = [(horizonIndex[i], sorted[i].priorListens ?? 0)]
            var next = sorted[i].fallback
            while let name = next, let h = horizonOf[name], chain.count <= sorted.count {
                chain.append((h, priorOf[name] ?? 0))
                next = fallbackOf[name] ?? nil
            }
            return chain
        }
        self.horizonChains = chains.map { $0.map(\.0) }
        self.priorChains = chains.map { $0.map(\.1) }
    }

    /// Kinds whose empty horizon may take another horizon's value.
    static let fallbackKinds: Set<FeatureKind> = [.audioMean, .collaborativeMean, .deviceMix]

    /// A fallback names another group of the same kind, and its chain ends without a cycle.
    private static func checkFallback(of g: FeatureGroup, in groups: [FeatureGroup]) throws {
        if let k = g.priorListens {
            guard k.isFinite, k >= 0 else { throw ModelError("feature group '\(g.name)' has prior_listens \(k); it must be a finite number ≥ 0") }
            guard g.fallback != nil || k == 0 else {
                throw ModelError("feature group '\(g.name)' has prior_listens \(k) but no fallback to weigh against its own listens")
            }
        }
        guard let first = g.fallback else { return }
        guard fallbackKinds.contains(g.kind) else {
            throw ModelError(
                "feature group '\(g.name)' (\(g.kind.rawValue)) has a fallback, which only \(fallbackKinds.map(\.rawValue).sorted().joined(separator: ", ")) may have"
            )
        }
        var seen: Set<String> = [g.name]
        var next: String? = first
        while let name = next {
            guard let target = groups.first(where: { $0.name == name }) else {
                throw ModelError("feature group '\(g.name)' falls back to '\(name)', which is not in the layout")
            }
            guard target.kind == g.kind else {
                throw ModelError("feature group '\(g.name)' (\(g.kind.rawValue)) falls back to '\(name)' of another kind (\(target.kind.rawValue))")
            }
            guard seen.insert(name).inserted else { throw ModelError("feature group '\(g.name)': its fallbacks form a cycle through '\(name)'") }
            next = target.fallback
        }
    }

    private static func sizeReason(_ kind: FeatureKind, dims: ModelManifest.EmbeddingDims) -> String {
        switch kind {
        case .audioMean, .collaborativeMean, .onboardingArtistAudio, .onboardingArtistCollaborative: "the embedding dimensions"
        case .country: "the countries list (plus one slot for others) must"
        case .onboardingLanguages: "the languages list must"
        case .deviceMix: "the \(DeviceClass.all.count) device classes"
        case .imputedIndicators: "its covers list must"
        default: "its kind must"
        }
    }

    /// Writes one user's input row at `computeTimeMs`. `aggregates[i]` belongs to `horizons[i]`.
    public func fill(row: UnsafeMutableBufferPointer<Float>, aggregates: [HorizonAggregate], context: UserContext, computeTimeMs: Int64) {
        precondition(row.count == inputSize && aggregates.count == horizons.count)
        let picksActive = context.signupTimeMs.map { computeTimeMs - $0 < onboardingPeriodMs } ?? false
        for g in groups where g.kind == .imputedIndicators {
            for k in 0..<g.size { row[g.offset + k] = 0 }
        }
        for (index, g) in groups.enumerated() where g.kind != .imputedIndicators {
            func impute(_ g: FeatureGroup) {
                for k in 0..<g.size { row[g.offset + k] = g.imputation?[k] ?? 0 }
                for slot in indicatorSlots[index] { row[slot] = 1 }
            }
            // Writes the group's value from its fallback chain: the longest horizon with data gives its
            // mean, and each shorter one with data blends its own sum with that value, which counts as
            // `priorListens` listens: `(sum + k · value) / (weight + k)`. `weight` is the listens a
            // horizon counts and `sum(h, c)` its sum of component c. Returns false when no horizon of
            // the chain has data; a value from the fallbacks alone flags the group as imputed.
            func blend(_ index: Int, weight: (HorizonAggregate) -> Float, sum: (HorizonAggregate, Int) -> Float) -> Bool {
                let chain = horizonChains[index], priors = priorChains[index]
                guard let first = chain.indices.first(where: { weight(aggregates[chain[$0]]) > 0.5 }) else { return false }
                // A member with data and no prior ends the chain: nothing longer reaches the group.
                var last = first
                while priors[last] > 0, let longer = chain.indices.dropFirst(last + 1).first(where: { weight(aggregates[chain[$0]]) > 0.5 }) {
                    last = longer
                }
                for position in stride(from: last, through: first, by: -1) {
                    let agg = aggregates[chain[position]]
                    let n = weight(agg)
                    guard n > 0.5 else { continue }
                    if position == last {
                        let scale = 1 / n
                        for c in 0..<g.size { row[g.offset + c] = sum(agg, c) * scale }
                    } else {
                        let k = priors[position], scale = 1 / (n + k)
                        for c in 0..<g.size { row[g.offset + c] = (sum(agg, c) + k * row[g.offset + c]) * scale }
                    }
                }
                if first > 0 { for slot in indicatorSlots[index] { row[slot] = 1 } }
                return true
            }
            switch g.kind {
            case .playCountLog1p:
                row[g.offset] = Float(log1p(Double(aggregates[horizonIndex[index]].count)))
            case .audioMean, .collaborativeMean:
                let source = g.kind == .audioMean ? 0 : dims.audio
                guard blend(index, weight: { Float($0.count) }, sum: { $0.sums[source + $1] }) else { impute(g); continue }
            case .deviceMix:
                let base = dims.audio + dims.collaborative
                guard blend(index, weight: { agg in (0..<g.size).reduce(0) { $0 + agg.sums[base + $1] } }, sum: { $0.sums[base + $1] }) else {
                    impute(g)
                    continue
                }
            case .country:
                guard let country = context.country else { impute(g); continue }
                for k in 0..<g.size { row[g.offset + k] = 0 }
                row[g.offset + (countries[country] ?? g.size - 1)] = 1
            case .accountAgeLog1pDays:
                guard let signup = context.signupTimeMs else { impute(g); continue }
                row[g.offset] = Float(log1p(Double(max(0, computeTimeMs - signup)) / Double(Horizon.dayMs)))
            case .onboardingLanguages:
                guard picksActive, !context.languages.isEmpty else { impute(g); continue }
                for k in 0..<g.size { row[g.offset + k] = 0 }
                for language in context.languages { if let slot = languages[language] { row[g.offset + slot] = 1 } }
            case .onboardingArtistAudio, .onboardingArtistCollaborative:
                guard picksActive, let embedding = context.artistEmbedding else { impute(g); continue }
                let source = g.kind == .onboardingArtistAudio ? 0 : dims.audio
                for k in 0..<g.size { row[g.offset + k] = embedding[source + k] }
            default:
                impute(g)
            }
        }
    }
}
