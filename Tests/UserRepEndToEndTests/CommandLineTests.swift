// The CLI surface: every command's --help shows an example, and bad options fail with a clear message.
import Foundation
import Testing
import UserRepModel
import UserRepTesting

@Suite struct CommandLineTests {
    /// Runs the `userrep` binary; returns its exit status and combined output.
    func run(_ arguments: [String]) throws -> (status: Int32, output: String) { try runUserrep(arguments) }

    @Test(arguments: [
        ["run"], ["backfill"], ["demo"], ["bench"], ["subscribe"], ["model", "init"], ["model", "import"], ["model", "inspect"],
        ["tracks", "import"], ["tracks", "generate"], ["tracks", "build"], ["events", "import"], ["events", "generate"],
        ["topics", "create"], ["features", "export"], ["train"], ["evaluate"], ["cluster"],
    ])
    func everyCommandsHelpHasAnExample(_ command: [String]) throws {
        let (status, output) = try run(command + ["--help"])
        #expect(status == 0)
        #expect(output.contains("Example"), "\(command.joined(separator: " ")) --help:\n\(output)")
    }

    @Test func modelInitWritesThePriorListensAsked() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("init-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        func priors(_ extra: [String]) throws -> [String: Float?] {
            let out = dir.appendingPathComponent(extra.joined())
            let (status, output) = try run(["model", "init", "--output", out.path, "--audio-dims", "4", "--collaborative-dims", "4"] + extra)
            #expect(status == 0, "\(output)")
            let manifest = try ModelManifest.decode(try Data(contentsOf: out.appendingPathComponent("manifest.json")))
            return Dictionary(uniqueKeysWithValues: manifest.features.filter { $0.fallback != nil }.map { ($0.name, $0.priorListens) })
        }
        let byDefault = try priors([])
        #expect(byDefault.count == 4 && byDefault.values.allSatisfy { $0 == ModelManifest.defaultPriorListens }, "\(byDefault)")
        #expect(try priors(["--prior-listens", "7.5"]).values.allSatisfy { $0 == 7.5 })
        #expect(try priors(["--prior-listens", "0"]).values.allSatisfy { $0 == nil }, "0 writes no prior: a window's own mean")
    }

    @Test func eventsImportNamesTheFirstBadLineAndPublishesNothing() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("events-\(UUID().uuidString).jsonl")
        defer { try? FileManager.default.removeItem(at: file) }
        let lines = [
            #"{"user_id":"u1","track_id":"t1","timestamp_ms":1700000000000}"#, "", #"{"user_id":"u2","timestamp_ms":1700000000000}"#,
        ]
        try lines.joined(separator: "\n").write(to: file, atomically: true, encoding: .utf8)
        // An unreachable broker: the command must stop at the bad line before it connects.
        let (status, output) = try run(["events", "import", "--file", file.path, "--bootstrap-servers", "127.0.0.1:1"])
        #expect(status != 0)
        #expect(output.contains("\(file.path):3: not a valid listens event") && output.contains("track_id is required"), "\(output)")
    }

    @Test func trainRefusesAFeaturesFileWhoseRowsDoNotFitItsLayout() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("train-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        // The layout in the metadata has 483 inputs; the rows have 10.
        let (manifest, _) = ModelFactory.random(batchID: "b", embeddingBatchID: "e", dims: .init(audio: 80, collaborative: 80))
        let file = dir.appendingPathComponent("f.safetensors")
        let writer = try FeatureFile.Writer(
            url: file, rows: 1, inputSize: 10, idBytes: 1, metadata: ["manifest": String(decoding: try manifest.encoded(), as: UTF8.self)])
        try [Float](repeating: 1, count: 10).withUnsafeBufferPointer { try writer.append(userID: [65], row: $0) }
        try writer.finish()
        let out = dir.appendingPathComponent("model")
        let (status, output) = try run(["train", "--features", file.path, "--output", out.path, "--batch-id", "b", "--epochs", "1"])
        #expect(status != 0)
        #expect(output.contains("rows have 10 features but the layout in its metadata has 483"), "\(output)")
        #expect(!FileManager.default.fileExists(atPath: out.path), "nothing written")
    }

    /// bench's fixed-rate phase in the backlog's worker (once it has caught up) and in a restarted
    /// one: every offered listen is processed, and every vector of both phases is on the topic.
    @Test(arguments: [false, true])
    func benchProcessesItsFixedRateLoad(restart: Bool) throws {
        let (status, output) = try run(
            ["bench", "--events", "2000", "--users", "300", "--tracks", "200", "--rate", "500", "--seconds", "2", "--no-microbenchmarks"]
                + (restart ? ["--restart-before-load"] : []))
        #expect(status == 0, "\(output)")
        #expect(output.contains("backlog: 2000 events"), "\(output)")
        #expect(output.contains("offered 500/s in 5 ms batches, processed 1000 events"), "\(output)")
        #expect(output.contains(restart ? "published for the backlog," : "published for the backlog and "), "\(output)")
        #expect(output.contains("kafka alone (the backlog's reads") && output.contains("nothing dropped by the embedded cluster"), "\(output)")
    }

    @Test(arguments: [
        (["run", "--model", "m.json", "--threads", "0"], "--threads must be at least 1"),
        (["backfill", "--model", "m.json", "--replay-topic", "t", "--max-poll-records", "0"], "--max-poll-records must be at least 1"),
        (["run", "--model", "m.json", "--max-cycle-state-mb=-1"], "--max-cycle-state-mb must be between 0 and 1073741824, got -1"),
        (["train", "--features", "f", "--output", "o", "--batch-id", "b", "--loss", "mae"], "--loss must be l2 or mse"),
        (["train", "--features", "f", "--output", "o", "--batch-id", "b", "--layers", "512,x"], "--layers must be positive integers"),
        (["train", "--features", "f", "--output", "o", "--batch-id", "b", "--input-dropout", "1"], "--input-dropout must be in [0, 1)"),
        (["train", "--features", "/nonexistent.safetensors", "--output", "o", "--batch-id", "b"], "cannot read features file"),
        (["backfill", "--model", "m.json", "--replay-topic", "t", "--until", "yesterday"], "--until"),
        (["bench", "--threads=-2"], "--threads must be at least 1"),
        (["model", "init", "--output", "o", "--prior-listens=-1"], "--prior-listens must be a number ≥ 0, got -1.0"),
        (["model", "import", "--weights", "w", "--output", "o", "--batch-id", "b", "--embedding-batch-id", "e", "--prior-listens", "nan"],
         "--prior-listens must be a number ≥ 0, got nan"),
    ])
    func badCycleOptionsAreRefusedClearly(_ arguments: [String], _ message: String) throws {
        let (status, output) = try run(arguments)
        #expect(status != 0)
        #expect(output.contains(message), "output: \(output)")
    }
}
