// The paper's three evaluations (section 5) of one or more models against the simple baselines.
import Foundation
import UserRepModel
import UserRepState

/// Future listening (5.1.1, Table 1), cold start (5.2, Table 2) and cluster nDCG@k (5.3, Table 4)
/// for every model given, the average-embedding baseline and popularity. Pure but for BLAS: the
/// caller reads the files; the same inputs and seed give the same report.
public struct Evaluation {
    /// Settings.
    public struct Options: Sendable {
        /// The split: vectors are as of this event time, the future is after it.
        public var splitMs: Int64
        /// Window of future listening after the split.
        public var horizonMs = 7 * Horizon.dayMs
        /// Window after sign-up whose plays cold start predicts.
        public var coldStartMs: Int64 = 4 * 3_600_000
        /// Neighbours per user in the cluster evaluation.
        public var k = 50
        /// Positives kept per user (and as many negatives).
        public var maxPositives = 50
        /// Share of users held out for scoring.
        public var testFraction = 0.5
        /// Seed of the user split, the negatives and the classifier.
        public var seed: UInt64 = 1
        /// Random splits (seeds `seed`, `seed + 1`, ...) the prediction scores are averaged over:
        /// on a few hundred users one split's AUC moves by several points.
        public var repeats = 1
        /// Threads for the similarity products.
        public var threads = 1
        /// Whether to add the standardized encoder input itself as a representation (a diagnostic).
        public var includeInputs = false
        /// If set, the future-listening classifier reads each representation's top this-many
        /// principal components (fitted over the evaluated users) instead of the whole vector, so
        /// representations of different widths are compared at one width (a diagnostic).
        public var probeComponents: Int?
        /// The classifier's training settings (its seed is replaced by `seed`).
        public var classifier = PairClassifier.Options()

        /// Settings for a split at `splitMs`.
        public init(splitMs: Int64) { self.splitMs = splitMs }

        /// The seed of each repeat.
        var seeds: [UInt64] { (0..<max(1, repeats)).map { seed &+ UInt64($0) } }

        /// The classifier's settings with the seed of one repeat.
        func classifier(seed: UInt64) -> PairClassifier.Options {
            var c = classifier
            c.seed = seed
            return c
        }
    }

    /// What the evaluation reads.
    public struct Inputs {
        /// Models to evaluate; each must follow the features file's layout.
        public let models: [EncoderModel]
        /// The features file's layout.
        public let layout: FeatureLayout
        /// Exported rows (before normalization), `users.count × layout.inputSize`.
        public let rows: [Float]
        /// The exported users, in row order.
        public let users: [EvaluatedUser]
        /// The catalogue negatives are drawn from.
        public let catalogue: EvaluationCatalogue
        /// The track table features are computed with (for cold-start users' vectors at sign-up).
        public let tracks: TrackTable
        /// Every listen, both sides of the split.
        public let listens: [ListenEvent]
        /// Every onboarding event, both sides of the split.
        public let onboarding: [OnboardingEvent]
        /// Vectors from elsewhere, in the users' row order: scored on future listening and
        /// clusters beside the models (cold start needs vectors at sign-up, which only a model gives).
        public let external: [Representation]

        /// Checks that every model follows `layout`, that rows, users and external vectors agree,
        /// and that no external representation takes the name of another row.
        public init(
            models: [EncoderModel], layout: FeatureLayout, rows: [Float], users: [EvaluatedUser], catalogue: EvaluationCatalogue,
            tracks: TrackTable, listens: [ListenEvent], onboarding: [OnboardingEvent], external: [Representation] = []
        ) throws {
            guard !models.isEmpty else { throw WorkerError("no model to evaluate") }
            for m in models where m.layout.groups != layout.groups {
                throw WorkerError(
                    "model \(m.batchID) follows a different feature layout than the features file; export features with its manifest")
            }
            guard rows.count == users.count * layout.inputSize else {
                throw WorkerError(
                    "the profiles file has \(users.count) users but the features file \(rows.count / max(1, layout.inputSize)) rows")
            }
            guard catalogue.count > 1 else { throw WorkerError("the track file holds \(catalogue.count) tracks; negatives need more") }
            var names = Set(models.map { "model \($0.batchID)" } + [averageEmbedding, popularity, Representation.standardizedInputsName])
            for e in external {
                guard e.width > 0, e.vectors.count == users.count * e.width else {
                    throw WorkerError("vectors '\(e.name)' hold \(e.vectors.count) floats, not \(users.count) users × \(e.width)")
                }
                guard names.insert(e.name).inserted else { throw WorkerError("two rows of the report would be named '\(e.name)'") }
            }
            self.models = models
            self.layout = layout
            self.rows = rows
            self.users = users
            self.catalogue = catalogue
            self.tracks = tracks
            self.listens = listens
            self.onboarding = onboarding
            self.external = external
        }
    }

    /// Names of the baselines in the report.
    public static let averageEmbedding = "average embedding", popularity = "popularity"
    public static let pickedArtists = "picked artists' mean", countryPopularity = "popularity in country"

    /// Runs all three evaluations; `progress` is told what is being done.
    public static func run(_ inputs: Inputs, options: Options, progress: (String) -> Void = { _ in }) throws -> EvaluationReport {
        let timeline = ListenTimeline(listens: inputs.listens, catalogue: inputs.catalogue)
        var representations = try userRepresentations(inputs)
        if options.includeInputs {
            representations.append(
                inputs.rows.withUnsafeBufferPointer {
                    Representation.standardizedInputs(rows: $0, count: inputs.users.count, width: inputs.layout.inputSize)
                })
        }
        let userIDs = inputs.users.map(\.id)

        // Future listening, over `repeats` random splits.
        let probed = try representations.map { r in try options.probeComponents.map { try r.principalComponents($0) } ?? r }
        let positives = userIDs.map { timeline.played(by: $0, after: options.splitMs, upTo: options.splitMs + options.horizonMs) }
        let logPopularity = timeline.popularity(tracks: inputs.catalogue.count, upTo: options.splitMs).map { Float(log1p(Double($0))) }
        var scores = [[PredictionTask.Score]](repeating: [], count: representations.count + 1)
        var split = (train: 0, test: 0)
        for (repeat_, seed) in options.seeds.enumerated() {
            progress("future listening: split \(repeat_ + 1) of \(options.repeats)")
            let task = PredictionTask(
                positives: positives, catalogue: inputs.catalogue.count, maxPositives: options.maxPositives,
                testFraction: options.testFraction, seed: seed)
            if repeat_ == 0 { split = (task.trainUsers, task.testUsers) }
            let classifier = options.classifier(seed: seed)
            for (i, r) in probed.enumerated() {
                scores[i].append(
                    task.score(users: r, itemWidth: inputs.catalogue.width, options: classifier) { _, t in inputs.catalogue.embedding(t) })
            }
            scores[representations.count].append(
                task.score(users: Representation(name: popularity, vectors: [], width: 0), itemWidth: 1, options: classifier) {
                    [logPopularity[$1]]
                })
        }
        let futureRows = zip(representations.map(\.name) + [popularity], scores).map {
            EvaluationReport.PredictionRow(representation: $0, $1)
        }

        let coldStart = try coldStartTable(inputs, timeline: timeline, logPopularity: logPopularity, options: options, progress: progress)

        // Clusters.
        progress("clusters: nDCG@\(options.k)")
        let labelings = clusterLabels(inputs, timeline: timeline, splitMs: options.splitMs)
        var clusterRows: [EvaluationReport.ClusterRow] = []
        for r in representations {
            var values: [String: Double] = [:], scored: [String: Int] = [:]
            for (kind, labels) in labelings {
                let result = ClusterNDCG.ndcg(vectors: r.vectors, dim: r.width, clusters: labels, k: options.k, threads: options.threads)
                if result.scored > 0 {
                    values[kind] = result.mean
                    scored[kind] = result.scored
                }
            }
            clusterRows.append(.init(representation: r.name, ndcg: values, scoredUsers: scored))
        }
        return EvaluationReport(
            splitMs: options.splitMs, horizonDays: Double(options.horizonMs) / Double(Horizon.dayMs),
            coldStartHours: Double(options.coldStartMs) / 3_600_000, k: options.k, seed: options.seed, repeats: options.repeats,
            probeComponents: options.probeComponents,
            users: inputs.users.count, catalogue: inputs.catalogue.count, unknownTrackListens: timeline.unknownTracks,
            futureListening: .init(trainUsers: split.train, testUsers: split.test, rows: futureRows),
            coldStart: coldStart, clusters: clusterRows)
    }

    /// Each model's vectors of the exported rows, the average-embedding baseline, then the
    /// external vectors.
    static func userRepresentations(_ inputs: Inputs) throws -> [Representation] {
        var out = inputs.models.map { Representation.encoded(by: $0, rows: inputs.rows, count: inputs.users.count) }
        out.append(
            try inputs.rows.withUnsafeBufferPointer {
                try Representation.averageEmbedding(rows: $0, count: inputs.users.count, layout: inputs.layout)
            })
        return out + inputs.external
    }

    /// Cluster labels per kind for every exported user: most-played artist before the split,
    /// country, and onboarding picks (the first artist picked, else the languages picked).
    static func clusterLabels(_ inputs: Inputs, timeline: ListenTimeline, splitMs: Int64) -> [(String, [Int?])] {
        /// Each distinct key numbered in order of first appearance.
        func ids(_ keys: [String?]) -> [Int?] {
            var index: [String: Int] = [:]
            return keys.map { key in
                key.map { k in
                    if let i = index[k] { return i }
                    index[k] = index.count
                    return index.count - 1
                }
            }
        }
        func text(_ b: [UInt8]) -> String { String(decoding: b, as: UTF8.self) }
        let artist = inputs.users.map { u in timeline.mostPlayedArtist(of: u.id, upTo: splitMs, catalogue: inputs.catalogue).map(text) }
        let country = inputs.users.map { $0.country.map(text) }
        // Onboarding: the first artist picked (exact pick sets are nearly all distinct), else the
        // languages picked, else none.
        let picks = inputs.users.map { u -> String? in
            if let first = u.pickedArtists.first { return "artist " + text(first) }
            guard !u.pickedLanguages.isEmpty else { return nil }
            return "languages " + u.pickedLanguages.map(text).sorted().joined(separator: ",")
        }
        return [("artist", ids(artist)), ("country", ids(country)), ("onboarding", ids(picks))]
    }
}
