// The paper's evaluations end to end: MovieLens-100K (fetched at run time) and the synthetic world
// through the real pipeline scripts — embedded cluster, backfill --until, features export, train,
// evaluate — on the debug binary, with every metric of the model and each baseline in the JSON.
import Foundation
import Testing
import UserRepPipeline
import UserRepTesting

@Suite(.serialized) struct EvaluationPipelineTests {
    static let package = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Runs a script of Tests/evaluation with the debug binary; returns its combined output.
    func script(_ name: String, work: URL, environment: [String: String]) throws -> String {
        let process = Process()
        process.executableURL = Self.package.appendingPathComponent("Tests/evaluation/\(name)")
        process.arguments = [work.path]
        process.currentDirectoryURL = Self.package
        process.environment = ProcessInfo.processInfo.environment.merging(
            environment.merging(["USERREP": try userrepBinary().path, "EPOCHS": "40", "REPEATS": "2", "THREADS": "1"]) { a, _ in a }
        ) { _, new in new }
        let log = work.deletingLastPathComponent().appendingPathComponent("\(name).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        defer { try? handle.close() }
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        process.waitUntilExit()
        let output = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        try #require(process.terminationStatus == 0, "\(name) failed (\(process.terminationStatus)):\n\(output.suffix(4_000))")
        return output
    }

    /// Runs the debug binary to completion; requires exit 0.
    func binary(_ arguments: [String]) throws {
        let (status, output) = try runUserrep(arguments)
        try #require(status == 0, "userrep \(arguments.prefix(2).joined(separator: " ")) failed:\n\(output.suffix(2_000))")
    }

    /// Every figure the tables promise, for the model and for each baseline.
    func expectComplete(
        _ report: EvaluationReport, model: String, coldStartGroups: [KeyPath<EvaluationReport.ColdStartRow, PredictionTask.Summary>]
    ) {
        let future = Dictionary(uniqueKeysWithValues: report.futureListening.rows.map { ($0.representation, $0.score) })
        for name in [model, Evaluation.averageEmbedding, Evaluation.popularity] {
            #expect(future[name]?.auc.map { $0 > 0 && $0 < 1 } == true, "future-listening AUC of \(name)")
            #expect(future[name].map { $0.accuracy > 0 && $0.pairs > 0 && $0.repeats == 2 } == true, "future-listening accuracy of \(name)")
        }
        #expect(report.coldStart.reason == nil, "cold start: \(report.coldStart.reason ?? "")")
        let cold = Dictionary(uniqueKeysWithValues: report.coldStart.rows.map { ($0.representation, $0) })
        for name in [model, Evaluation.pickedArtists, Evaluation.countryPopularity] {
            for group in coldStartGroups { #expect(cold[name].flatMap { $0[keyPath: group].auc } != nil, "cold-start AUC of \(name)") }
        }
        let clusters = Dictionary(uniqueKeysWithValues: report.clusters.map { ($0.representation, $0.ndcg) })
        for name in [model, Evaluation.averageEmbedding] {
            for kind in ["artist", "country", "onboarding"] {
                #expect(clusters[name]?[kind].map { $0 > 0 && $0 <= 1 } == true, "nDCG@50 by \(kind) of \(name)")
            }
        }
    }

    @Test func movieLens100KRunsEndToEndAndItsReportHasEveryMetric() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("movielens-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let work = root.appendingPathComponent("run")
        _ = try script(
            "movielens.sh", work: work, environment: ["MOVIELENS_DATA": Self.package.appendingPathComponent(".build/movielens/data").path])
        let data = try Data(contentsOf: work.appendingPathComponent("report.json"))
        let report = try EvaluationReport.decode(data)
        #expect(report.users == 426 && report.catalogue == 1_682, "users exported at the split and movies")
        // Everyone "skips" onboarding in MovieLens (no artist picks), so only that group is scored.
        expectComplete(report, model: "model ml100k-ae-1", coldStartGroups: [\.skipped])
        #expect(report.coldStart.completedUsers == 0 && report.coldStart.skippedUsers > 100)
        let profile = try String(contentsOf: work.appendingPathComponent("features.safetensors.profiles.jsonl"), encoding: .utf8)
        #expect(
            profile.prefix(while: { $0 != "\n" }).contains("\"top_artist\":{\"1w\":"), "profiles carry the most-played artist per window")

        // Same inputs and seed: the same numbers, byte for byte.
        let again = root.appendingPathComponent("again.json")
        try binary([
            "evaluate", "--features", work.appendingPathComponent("features.safetensors").path,
            "--model", work.appendingPathComponent("model/manifest.json").path,
            "--listens", work.appendingPathComponent("listens.jsonl").path,
            "--onboarding", work.appendingPathComponent("onboarding.jsonl").path,
            "--tracks-file", work.appendingPathComponent("tracks.jsonl").path, "--seed", "1", "--repeats", "2", "--json", again.path,
        ])
        #expect(try Data(contentsOf: again) == data, "a second evaluation with the same seed differs")
    }

    @Test func theSyntheticWorldRunsTheSamePipelineWithColdStartAndEveryClusterKind() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("synthetic-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let work = root.appendingPathComponent("run")
        _ = try script("synthetic.sh", work: work, environment: ["USERS": "800", "TRACKS": "600", "LISTENS": "40000"])
        let report = try EvaluationReport.decode(try Data(contentsOf: work.appendingPathComponent("report.json")))
        expectComplete(report, model: "model synthetic-ae-1", coldStartGroups: [\.completed, \.skipped])
        #expect(report.coldStart.completedUsers > 0 && report.coldStart.skippedUsers > 0)

        // The script scores the taste the generator planted (`--vectors planted-taste=...`): the
        // most any representation can know of a user's taste here, so no row predicts plays better.
        let future = Dictionary(uniqueKeysWithValues: report.futureListening.rows.map { ($0.representation, $0.score.auc ?? 0) })
        let planted = try #require(future["planted-taste"], "the planted taste's row: \(future)")
        for (name, auc) in future where name != "planted-taste" && name != Evaluation.popularity {
            #expect(planted > auc, "planted taste \(planted) against \(name) \(auc)")
        }
        #expect(report.clusters.first { $0.representation == "planted-taste" }?.ndcg.count == 3)
        // A --vectors name may not take another row's.
        let (status, output) = try runUserrep([
            "evaluate", "--features", work.appendingPathComponent("features.safetensors").path,
            "--model", work.appendingPathComponent("model/manifest.json").path,
            "--listens", work.appendingPathComponent("listens.jsonl").path,
            "--tracks-file", work.appendingPathComponent("tracks.jsonl").path,
            "--vectors", "average embedding=" + work.appendingPathComponent("planted-taste.vectors.jsonl").path,
        ])
        #expect(status != 0 && output.contains("two rows of the report would be named 'average embedding'"), "\(status): \(output)")
        // At one width (each representation's top 8 principal components) the report says so.
        let file = { (name: String) in work.appendingPathComponent(name).path }
        try binary([
            "evaluate", "--features", file("features.safetensors"), "--model", file("model/manifest.json"), "--listens", file("listens.jsonl"),
            "--tracks-file", file("tracks.jsonl"), "--vectors", "planted-taste=" + file("planted-taste.vectors.jsonl"),
            "--probe-components", "8", "--json", file("probe8.json"),
        ])
        let probe = try EvaluationReport.decode(try Data(contentsOf: work.appendingPathComponent("probe8.json")))
        #expect(probe.probeComponents == 8 && report.probeComponents == nil)
        #expect(probe.futureListening.rows.map(\.representation) == report.futureListening.rows.map(\.representation))
        #expect(probe.clusters == report.clusters, "the probe's width changes future listening only")

        // Two batches side by side (the check before a promotion): a second, shorter-trained model
        // gets its own rows, and the first model's figures do not change.
        try binary([
            "train", "--features", file("features.safetensors"), "--output", file("short"), "--batch-id", "short-1", "--epochs", "3",
        ])
        try binary([
            "evaluate", "--features", file("features.safetensors"), "--model", file("model/manifest.json"), "--model",
            file("short/manifest.json"), "--listens", file("listens.jsonl"), "--onboarding", file("onboarding.jsonl"),
            "--tracks-file", file("tracks.jsonl"), "--seed", "1", "--repeats", "2", "--json", file("both.json"),
        ])
        let both = try EvaluationReport.decode(try Data(contentsOf: work.appendingPathComponent("both.json")))
        expectComplete(both, model: "model short-1", coldStartGroups: [\.completed, \.skipped])
        #expect(both.futureListening.rows.first { $0.representation == "model synthetic-ae-1" } == report.futureListening.rows.first)
        #expect(both.clusters.first { $0.representation == "model synthetic-ae-1" } == report.clusters.first)
        #expect(both.coldStart.rows.first { $0.representation == "model synthetic-ae-1" } == report.coldStart.rows.first)
    }
}
