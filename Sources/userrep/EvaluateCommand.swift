// `userrep evaluate`: the paper's evaluations (section 5) of one or two models against the baselines.
import ArgumentParser
import Foundation
import UserRepModel
import UserRepPipeline

/// Scores models on future listening, cold start and cluster nDCG, beside the average-embedding
/// and popularity baselines; prints the tables and writes JSON.
struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Future listening, cold start and cluster nDCG@50 of a model against the simple baselines.",
        discussion: """
            Reads the features exported at the split time T (`backfill --until T`, then `features \
            export --as-of T`), the listens and onboarding events on both sides of T, and the track file.
            - Future listening (paper 5.1.1, Table 1): positives are the tracks each user plays in \
            (T, T + --horizon-days]; as many negatives are drawn from the catalogue among tracks the \
            user did not play then. A logistic regression on the user vector, the track embedding \
            and their interactions is trained on some users and scored (ROC AUC, accuracy) on the \
            --test-fraction held out. Baselines: the user's mean audio + collaborative embedding over \
            the longest window ("average embedding") and the track's play count before T.
            - Cold start (5.2, Table 2): users whose first onboarding event is after T; what they play \
            in the --cold-start-hours after it, from the vector the worker computes at sign-up, for \
            completed and skipped onboarding apart; baselines: the picked artists' mean embedding and \
            popularity in the user's country.
            - Clusters (5.3, Table 4): nDCG@--k of exact cosine neighbours against users with the same \
            most-played artist before T, country, and first onboarding pick (else the languages picked).
            Every model must follow the features file's layout; give --model twice to compare a new \
            batch with the current one. --vectors NAME=FILE adds user vectors made elsewhere (JSON \
            lines {"user_id": "u1", "vector": [...]}, one per evaluated user) to the future-listening \
            and cluster tables. The same inputs and --seed give the same numbers.

            Example:
              userrep evaluate --features f.safetensors --model models/b44/manifest.json \\
                --model models/b43/manifest.json --listens listens.jsonl --onboarding onboarding.jsonl \\
                --tracks-file tracks.jsonl --json report.json
            """
    )

    @Option(help: "Features file exported at the split time (`userrep features export`).") var features: String
    @Option(help: "Its profiles file (default FEATURES.profiles.jsonl).") var profiles: String?
    @Option(help: "Model manifest to evaluate (repeatable).") var model: [String] = []
    @Option(
        help: ArgumentHelp(
            "Also score user vectors made elsewhere: NAME=FILE, JSON lines {\"user_id\", \"vector\"} (repeatable).",
            valueName: "name=file")) var vectors: [String] = []
    @Option(help: "Every listen, before and after the split (JSON lines, schemas/listens.schema.json).") var listens: String
    @Option(help: "Every onboarding event (JSON lines, schemas/onboarding.schema.json), for cold start.") var onboarding: String?
    @Option(help: "Track file (JSON lines or .utrk): the catalogue and its embeddings.") var tracksFile: String
    @Option(help: "Split time T (ISO 8601 or ms); default: the features file's --as-of.") var splitTime: EventTimeArgument?
    @Option(help: "Days of future listening after T.") var horizonDays = 7.0
    @Option(help: "Hours after sign-up that cold start predicts.") var coldStartHours = 4.0
    @Option(help: "Neighbours per user in the cluster nDCG.") var k = 50
    @Option(help: "Positives kept per user (and as many negatives).") var maxPositives = 50
    @Option(help: "Share of users held out to score on.") var testFraction = 0.5
    @Option(help: "Epochs of the classifier.") var epochs = 30
    @Option(help: "L2 penalty of the classifier's weights.") var l2: Float = 1e-3
    @Option(help: "Seed of the user split, the negatives and the classifier.") var seed: UInt64 = 1
    @Option(help: "Random splits to average the prediction scores over (seeds SEED, SEED+1, ...).") var repeats = 1
    @Flag(help: "Also score the standardized exported features themselves (what the encoder is given).") var withInputs = false
    @Option(
        help: ArgumentHelp(
            "Future listening reads each representation's top N principal components, to compare widths (a diagnostic).",
            valueName: "n")) var probeComponents: Int?
    @Option(help: "Threads of the similarity products.") var threads = WorkerConfiguration.defaultComputeThreads
    @Option(help: "Write the report as JSON to this file (whole or not at all).") var json: String?

    func run() throws {
        guard !model.isEmpty else { throw ValidationError("give at least one --model") }
        guard testFraction > 0, testFraction < 1 else { throw ValidationError("--test-fraction must be between 0 and 1") }
        guard k > 0, maxPositives > 0, epochs > 0, repeats > 0, (probeComponents ?? 1) > 0 else {
            throw ValidationError("--k, --max-positives, --epochs, --repeats and --probe-components must be positive")
        }
        let file = try FeatureFile.Mapped(url: URL(fileURLWithPath: features))
        let exported = try file.exportManifest()
        let layout = try FeatureLayout(manifest: exported)
        guard let split = splitTime?.ms ?? file.metadata["as_of_ms"].flatMap({ Int64($0) }) else {
            throw ValidationError("the features file was exported at each user's newest event; give --split-time")
        }
        let models = try model.map { try EncoderModel.load(manifestURL: URL(fileURLWithPath: $0)) }
        let profileName = profiles ?? features + ".profiles.jsonl"
        let users = try EvaluatedUser.parseProfiles(try Data(contentsOf: URL(fileURLWithPath: profileName)), name: profileName)
        for (row, user) in users.enumerated() where row < file.rows && file.userID(row) != String(decoding: user.id, as: UTF8.self) {
            throw ValidationError(
                "\(profileName) line \(row + 1) is user \(String(decoding: user.id, as: UTF8.self)), the features row \(file.userID(row))")
        }
        let external = try vectors.map { spec -> Representation in
            guard let eq = spec.firstIndex(of: "="), eq != spec.startIndex, spec.index(after: eq) != spec.endIndex else {
                throw ValidationError("--vectors takes NAME=FILE, got '\(spec)'")
            }
            let path = String(spec[spec.index(after: eq)...])
            return try Representation.external(
                name: String(spec[..<eq]), jsonLines: try Data(contentsOf: URL(fileURLWithPath: path)), source: path, users: users)
        }
        let trackURL = URL(fileURLWithPath: tracksFile)
        let records = try TrackFile.read(try Data(contentsOf: trackURL), dims: exported.embeddingDims)
        let inputs = try Evaluation.Inputs(
            models: models, layout: layout, rows: file.withFeatures { Array($0) }, users: users,
            catalogue: EvaluationCatalogue(records: records.filter { $0.batchID == exported.embeddingBatchId }),
            tracks: try TrackTableSource.table(records, from: trackURL, manifest: exported),
            listens: try EventFile.listens(try Data(contentsOf: URL(fileURLWithPath: listens)), name: listens),
            onboarding: try onboarding.map { try EventFile.onboarding(try Data(contentsOf: URL(fileURLWithPath: $0)), name: $0) } ?? [],
            external: external)
        var options = Evaluation.Options(splitMs: split)
        options.horizonMs = Int64(horizonDays * Double(Horizon.dayMs))
        options.coldStartMs = Int64(coldStartHours * 3_600_000)
        options.k = k
        options.maxPositives = maxPositives
        options.testFraction = testFraction
        options.seed = seed
        options.repeats = repeats
        options.includeInputs = withInputs
        options.probeComponents = probeComponents
        options.threads = threads
        options.classifier.epochs = epochs
        options.classifier.l2 = l2
        let started = Date()
        let report = try Evaluation.run(inputs, options: options) { step in
            FileHandle.standardError.write(Data(String(format: "evaluate: %@ (%.1fs)\n", step, Date().timeIntervalSince(started)).utf8))
        }
        print(report.text(), terminator: "")
        if let json {
            try report.json().write(to: URL(fileURLWithPath: json), options: .atomic)
            print("wrote \(json)")
        }
    }
}
