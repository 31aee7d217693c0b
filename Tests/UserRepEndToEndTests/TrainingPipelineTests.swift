// Training/serving parity: a worker's state → `features export` → `train` → a worker serving the
// trained model, on the embedded cluster, with the rows checked against what the worker served.
import Foundation
import Logging
import Testing
import UserRepKafka
import UserRepModel
import UserRepPipeline
import UserRepState
import UserRepTesting

@Suite(.serialized) struct TrainingPipelineTests {
    @Test func exportedRowsAreWhatTheWorkerEncodedAndATrainedModelServesItsOwnForwardPass() throws {
        var w = try Workload(users: 150, tracks: 120, seed: 31)
        defer { w.env.cleanUp() }
        try w.produceListens(3_000)
        let config = try w.env.workerConfiguration(stateName: "served")
        _ = try w.runToEnd(config)
        let served = try latestVectors(w.env.kafka, w.env.topics.output).latest

        // Export from the stopped worker's state, tracks read from the topic as the worker read them.
        let tracks = try TrackTableSource.kafka(
            w.env.kafka, topic: w.env.topics.tracks, manifest: w.env.model.manifest, logger: Logger(label: "test"))
        let store = try StateStore(
            directory: config.stateDirectory, embeddingBatchID: w.env.model.manifest.embeddingBatchId, width: w.env.model.layout.listenWidth
        )
        let featuresURL = w.env.directory.appendingPathComponent("features.safetensors")
        let profilesURL = w.env.directory.appendingPathComponent("profiles.jsonl")
        var calls = 0
        let summary = try FeatureExport(model: w.env.model, tracks: tracks, asOfMs: nil).run(
            store: store, features: featuresURL, profiles: profilesURL
        ) { _, _ in calls += 1 }
        let file = try FeatureFile.Mapped(url: featuresURL)
        #expect(summary.users == served.count && file.rows == served.count && calls == served.count)
        // The windows' prior is fitted for each window inside the next longer one, over users with listens in both.
        #expect(summary.priorFits.map { "\($0.short)<\($0.long)" } == ["1w<1m", "1m<6m"])
        #expect(summary.priorFits.allSatisfy { $0.fit.users <= served.count })
        #expect(file.metadata["embedding_batch_id"] == w.env.model.manifest.embeddingBatchId)

        // Each row, through the served model, gives the vector the worker published for that user.
        var rows = file.withFeatures { Array($0) }
        let again = w.env.model.encode(rows: file.rows, input: &rows)
        var worst = 0.0
        for r in 0..<file.rows {
            let record = try #require(served[file.userID(r)], "user \(file.userID(r)) was served")
            for k in 0..<w.env.model.outputSize {
                worst = max(
                    worst, Double(abs(again[r * w.env.model.outputSize + k] - record.vector[k])) / max(1, Double(abs(record.vector[k]))))
            }
        }
        #expect(worst <= 1e-5, "exported rows re-encoded differ from the served vectors by \(worst)")
        let profiles = try String(contentsOf: profilesURL, encoding: .utf8).split(separator: "\n")
        #expect(
            profiles.count == file.rows && profiles[0].contains("\"user_id\":\"\(file.userID(0))\"")
                && profiles[0].contains("\"play_counts\":{\"1w\":"))

        // Train a small model on the file; a worker serving it publishes the training side's codes.
        var options = TrainingOptions()
        options.hidden = [32, 16]
        options.epochs = 3
        options.batchSize = 32
        options.inputDropout = 0.1
        let result = try file.withFeatures { try Trainer.train(features: $0, rows: file.rows, width: file.inputSize, options: options) }
        let modelDir = w.env.directory.appendingPathComponent("trained")
        let manifest = TrainedModel.manifest(
            result, exportedWith: try file.exportManifest(), batchID: "trained-1", options: options, features: "features.safetensors",
            asOf: "newest-event")
        try TrainedModel.write(result, manifest: manifest, to: modelDir)
        let trained = try EncoderModel.load(manifestURL: modelDir.appendingPathComponent("manifest.json"))
        #expect(trained.manifest.training?.trainRows == result.trainRows && trained.outputSize == 16)
        #expect(trained.manifest.training?.inputDropout == 0.1, "the manifest records the input masking")

        var second = try w.env.workerConfiguration(stateName: "trained-state", groupID: "trained")
        second.topics.output = "trained-output"
        try w.env.createTopic("trained-output", partitions: w.env.partitions)
        _ = try StreamWorker(configuration: second, model: trained).run(until: .whenCaughtUp())
        let published = try latestVectors(w.env.kafka, "trained-output").latest
        #expect(published.count == file.rows)
        // The training side's forward pass: standardize with the training statistics, run the encoder layers.
        var ws = AutoencoderWorkspace(network: result.network, rows: file.rows)
        file.withFeatures { x in
            ws.withInput { input in
                for r in 0..<file.rows {
                    for k in 0..<file.inputSize {
                        input[r * file.inputSize + k] = (x[r * file.inputSize + k] - result.mean[k]) / result.std[k]
                    }
                }
            }
        }
        var unused = SplitMix64(seed: 0)
        result.network.forward(rows: file.rows, workspace: &ws, dropout: nil, rng: &unused)
        let codes = ws.activations(layer: result.network.encoderLayers)
        worst = 0
        for r in 0..<file.rows {
            let record = try #require(published[file.userID(r)])
            #expect(record.batchID == "trained-1")
            for k in 0..<16 {
                worst = max(worst, Double(abs(codes[r * 16 + k] - record.vector[k])) / max(1, Double(abs(record.vector[k]))))
            }
        }
        #expect(worst <= 1e-5, "served codes differ from the training forward pass by \(worst)")
    }
}
