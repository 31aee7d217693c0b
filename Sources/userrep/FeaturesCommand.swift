// `userrep features export`: every user's encoder input from a state store, for training.
import ArgumentParser
import Foundation
import UserRepModel
import UserRepPipeline
import UserRepState

/// Feature tools.
struct FeaturesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "features",
        abstract: "Export the worker's own encoder inputs from a state store, for training.",
        subcommands: [Export.self]
    )

    /// Exports features and profiles.
    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write every user's encoder input (safetensors) and profile (JSON lines) from a state store.",
            discussion: """
                The rows are computed by the worker's own feature code (RepresentationBatchEncoder.fillFeatures) \
                with the model's layout, so a model trained on them is served the same features. \
                `features` is F32 [users, inputs], before normalization; `user_id_offsets` and \
                `user_id_bytes` hold the ids; the metadata holds the layout and embedding batch. \
                The profiles file (default OUTPUT.profiles.jsonl) has one line per user, in the same \
                order: country, sign-up time, onboarding picks, play counts per window, and with \
                --listens the most-played artist per window (top_artist; from the listens file, since \
                the state keeps no per-artist counts). \
                It also prints, per window inside the next longer one, the prior_listens the users' \
                own windows suggest (an empirical-Bayes fit: listen noise over real drift) beside the \
                layout's, to set `model init --prior-listens` from the data. \
                Stop any worker on the state directory first (RocksDB allows one process). \
                Tracks come from the track topic (Kafka options) or from --tracks-file.

                Example:
                  userrep backfill --replay-topic listens-replay --model m/manifest.json --state-dir st --until 2024-05-01 --no-publish
                  userrep features export --state-dir st --model m/manifest.json --output features.safetensors \\
                    --as-of 2024-05-01 --bootstrap-servers kafka:9092
                  python -c "from safetensors.numpy import load_file; print(load_file('features.safetensors')['features'].shape)"
                """
        )
        @OptionGroup var kafka: KafkaOptions
        @Option(help: "State directory (RocksDB) to read; no worker may have it open.") var stateDir: String
        @Option(help: "Model manifest whose feature layout the rows follow.") var model: String
        @Option(help: "Features file to write (safetensors).") var output: String
        @Option(help: "Profiles file to write (JSON lines; default OUTPUT.profiles.jsonl).") var profiles: String?
        @Option(
            help:
                "Compute every user's features at this event time (ISO 8601 or ms), so silent users' windows age; default: each user's newest event."
        )
        var asOf: EventTimeArgument?
        @Option(help: "Track file (JSON lines or .utrk) instead of the track topic.") var tracksFile: String?
        @Option(help: "Listens (JSON lines) to add each user's most-played artist per window to the profiles (top_artist).")
        var listens: String?
        @Option(help: "Track-embeddings topic.") var tracksTopic = TopicNames().tracks
        @OptionGroup var log: LogOptions

        /// One line on what the users' windows say of `prior_listens` for `window`, beside the layout's.
        static func describe(_ window: FeatureExport.WindowPriorFit, layout: [FeatureGroup]) -> String {
            let used = layout.first { $0.horizon == window.short && $0.fallback != nil }.map { "\($0.priorListens ?? 0)" } ?? "none"
            let head = "prior_listens for \(window.short) inside \(window.long): "
            guard let e = window.fit.estimate else {
                return head + "no fit (\(window.fit.users) users with listens in both); the layout uses \(used)"
            }
            let prior = e.priorListens.isFinite ? String(format: "%.1f", e.priorListens) : "unbounded (no drift measured)"
            return head + "\(prior) suggested by \(window.fit.users) users (σ² \(String(format: "%.4g", e.sigma2)), τ² \(String(format: "%.4g", e.tau2))); the layout uses \(used)"
        }

        func run() throws {
            let logger = try log.logger("userrep.features")
            let model = try EncoderModel.load(manifestURL: URL(fileURLWithPath: self.model))
            let tracks =
                try tracksFile.map { try TrackTableSource.file(URL(fileURLWithPath: $0), manifest: model.manifest) }
                ?? TrackTableSource.kafka(try kafka.configuration(), topic: tracksTopic, manifest: model.manifest, logger: logger)
            guard FileManager.default.fileExists(atPath: stateDir) else {
                throw ValidationError("state directory \(stateDir) does not exist")
            }
            let store = try StateStore(
                directory: stateDir, embeddingBatchID: model.manifest.embeddingBatchId, width: model.layout.listenWidth)
            let out = URL(fileURLWithPath: output)
            let profileURL = URL(fileURLWithPath: profiles ?? output + ".profiles.jsonl")
            let line = ProgressLine()
            var export = FeatureExport(model: model, tracks: tracks, asOfMs: asOf?.ms)
            if let listens {
                let events = try EventFile.listens(try Data(contentsOf: URL(fileURLWithPath: listens)), name: listens)
                export.artistHistory = FeatureExport.artistHistory(listens: events, tracks: tracks)
            }
            let summary = try export.run(
                store: store, features: out, profiles: profileURL
            ) {
                done, total in
                line.show("export: " + ProgressLine.counts(done, total, elapsed: line.elapsed, unit: "users"), force: done == total)
            }
            line.finish()
            if summary.newerThanAsOf > 0 {
                logger.warning(
                    "\(summary.newerThanAsOf) users have events after --as-of; they were exported at their newest event (backfill with --until the same time)"
                )
            }
            print("exported \(summary.users) users × \(model.inputSize) features to \(out.path) and profiles to \(profileURL.path)")
            for window in summary.priorFits { print(Self.describe(window, layout: model.manifest.features)) }
        }
    }
}
