// The evaluation's results: the paper's tables as text, and JSON for scripts and CI.
import Foundation

/// Every figure of one evaluation run (schemas/evaluation-report.schema.json).
public struct EvaluationReport: Codable, Sendable, Equatable {
    /// Split time (event time, ms).
    public let splitMs: Int64
    /// Future-listening window in days.
    public let horizonDays: Double
    /// Cold-start window in hours.
    public let coldStartHours: Double
    /// Neighbours in nDCG@k.
    public let k: Int
    /// Seed used.
    public let seed: UInt64
    /// Random splits the prediction tables average (seeds `seed`, `seed + 1`, ...).
    public let repeats: Int
    /// Principal components the future-listening classifier read of each representation
    /// (`--probe-components`); nil: the whole vector.
    public let probeComponents: Int?
    /// Users in the features file.
    public let users: Int
    /// Tracks in the catalogue.
    public let catalogue: Int
    /// Listens left out because their track is not in the catalogue.
    public let unknownTrackListens: Int
    /// Table 1.
    public let futureListening: FutureListening
    /// Table 2.
    public let coldStart: ColdStart
    /// Table 4.
    public let clusters: [ClusterRow]

    /// Table 1: future listening prediction.
    public struct FutureListening: Codable, Sendable, Equatable {
        /// Users the classifier was trained on / scored on.
        public let trainUsers: Int, testUsers: Int
        /// One row per representation.
        public let rows: [PredictionRow]
    }

    /// One representation's future-listening score.
    public struct PredictionRow: Codable, Sendable, Equatable {
        /// Representation name.
        public let representation: String
        /// ROC AUC and accuracy (means and spreads over the repeats) and held-out pairs.
        public let score: PredictionTask.Summary

        /// A row from the scores of every repeat.
        public init(representation: String, _ scores: [PredictionTask.Score]) {
            self.representation = representation
            score = PredictionTask.Summary(scores)
        }
    }

    /// Table 2: cold start.
    public struct ColdStart: Codable, Sendable, Equatable {
        /// Why there is no table (no users sign up after the split), nil when there is one.
        public let reason: String?
        /// One row per representation.
        public let rows: [ColdStartRow]
        /// Users trained on / scored on; scored users who completed / skipped onboarding.
        public var trainUsers = 0, testUsers = 0, completedUsers = 0, skippedUsers = 0
    }

    /// One representation's cold-start scores.
    public struct ColdStartRow: Codable, Sendable, Equatable {
        /// Representation name.
        public let representation: String
        /// Scores over users who completed onboarding and over those who skipped it.
        public let completed: PredictionTask.Summary, skipped: PredictionTask.Summary
    }

    /// Table 4: one representation's nDCG@k per cluster kind.
    public struct ClusterRow: Codable, Sendable, Equatable {
        /// Representation name.
        public let representation: String
        /// nDCG@k per cluster kind (artist, country, onboarding); kinds without two users left out.
        public let ndcg: [String: Double]
        /// Users scored per kind.
        public let scoredUsers: [String: Int]
    }

    /// The report as pretty, key-sorted JSON.
    public func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }

    /// Decodes a report written by `json()`.
    public static func decode(_ data: Data) throws -> EvaluationReport {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode(EvaluationReport.self, from: data)
    }

    /// The tables as the paper prints them, with each figure's relative difference to the baseline.
    public func text() -> String {
        func f(_ x: Double?) -> String { x.map { String(format: "%.4f", $0) } ?? "  n/a " }
        func f(_ x: Double?, _ sd: Double?) -> String {
            guard let x else { return "  n/a          " }
            return repeats > 1 ? String(format: "%.4f ± %.4f", x, sd ?? 0) : String(format: "%.4f", x)
        }
        func rel(_ x: Double?, _ base: Double?) -> String {
            guard let x, let base, base != 0 else { return "" }
            return String(format: "%+.1f%%", (x - base) / base * 100)
        }
        func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
        let name = max(24, (futureListening.rows.map(\.representation.count) + [0]).max() ?? 0)
        let baseline = futureListening.rows.first { $0.representation == Evaluation.averageEmbedding }
        let width = repeats > 1 ? 15 : 6
        var out =
            "Future listening, next \(String(format: "%g", horizonDays)) days (Table 1): \(futureListening.trainUsers) users trained on, "
        out += "\(futureListening.testUsers) held out" + (repeats > 1 ? " (means ± sd over \(repeats) random splits)" : "") + "\n"
        if let probeComponents { out += "(the classifier reads each representation's top \(probeComponents) principal components)\n" }
        out += pad("representation", name) + "  " + pad("AUC", width) + "  vs avg    " + pad("accuracy", width) + "  vs avg    pairs\n"
        for r in futureListening.rows {
            let s = r.score, b = baseline?.score
            out +=
                pad(r.representation, name) + "  \(f(s.auc, s.aucStd))  " + pad(rel(s.auc, b?.auc), 8)
                + "  \(f(s.accuracy, s.accuracyStd))  "
            out += pad(rel(s.accuracy, b?.accuracy), 8) + "  \(s.pairs)\n"
        }
        out += "\nCold start, first \(String(format: "%g", coldStartHours)) hours after sign-up (Table 2)"
        if let reason = coldStart.reason {
            out += ": none (\(reason))\n"
        } else {
            out += ": \(coldStart.trainUsers) users trained on, \(coldStart.testUsers) held out\n"
            let picks = coldStart.rows.first { $0.representation == Evaluation.pickedArtists }
            out +=
                pad("representation", name) + "  " + pad("completed AUC", width) + "  vs picks  " + pad("skipped AUC", width)
                + "  vs picks\n"
            for r in coldStart.rows {
                out += pad(r.representation, name) + "  " + pad(f(r.completed.auc, r.completed.aucStd), width) + "  "
                out += pad(rel(r.completed.auc, picks?.completed.auc), 8) + "  " + pad(f(r.skipped.auc, r.skipped.aucStd), width) + "  "
                out += pad(rel(r.skipped.auc, picks?.skipped.auc), 8) + "\n"
            }
        }
        let kinds = ["artist", "country", "onboarding"]
        let average = clusters.first { $0.representation == Evaluation.averageEmbedding }
        out += "\nCluster nDCG@\(k) (Table 4): users with the same most-played artist, country, onboarding picks\n"
        out += pad("representation", name) + kinds.map { "  " + pad($0, 18) }.joined() + "\n"
        for r in clusters {
            out += pad(r.representation, name)
            for kind in kinds { out += "  " + pad("\(f(r.ndcg[kind])) " + rel(r.ndcg[kind], average?.ndcg[kind]), 18) }
            out += "\n"
        }
        return out
    }
}
