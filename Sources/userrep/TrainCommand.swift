// `userrep train`: the paper's autoencoder, trained on an exported features file.
import ArgumentParser
import Foundation
import UserRepModel
import UserRepPipeline

/// Trains an autoencoder and writes a model directory `userrep run` loads.
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train the autoencoder on exported features; write a model `userrep run` loads.",
        discussion: """
            Encoder INPUT → --layers (default 512,256,120; SELU on hidden layers, linear code) and the \
            mirrored decoder; LeCun-normal initialization; alpha dropout; inputs standardized with the \
            training split's mean and standard deviation (written to the model's normalization); \
            Adam on mini-batches; early stopping on the validation loss. --loss l2 is the paper's \
            equation 2 (mean over users of the Euclidean reconstruction error), mse the mean squared \
            error. The output directory gets manifest.json + model.safetensors (encoder), \
            decoder.safetensors, loss.csv and loss.svg, written whole or not at all. The same file, \
            seed and --threads give bit-identical weights.

            Example:
              userrep train --features features.safetensors --output models/b44 --batch-id b44 --epochs 30
            """
    )

    @Option(help: "Features file from `userrep features export`.") var features: String
    @Option(help: "Model directory to write.") var output: String
    @Option(help: "Model batch id stamped on every vector.") var batchId: String
    @Option(help: "Encoder widths after the input, code last (comma separated).") var layers = "512,256,120"
    @Option(help: "Most epochs.") var epochs = 50
    @Option(help: "Rows per Adam step.") var batchSize = 256
    @Option(help: "Adam learning rate.") var learningRate: Float = 1e-3
    @Option(help: "Alpha-dropout rate on hidden layers (0 disables it).") var dropout: Float = 0.05
    @Option(
        help: "Masking noise on the input (a denoising autoencoder): the share of each training row's features set to their mean; the loss compares with the clean row (0 disables it)."
    ) var inputDropout: Float = 0
    @Option(help: "Share of users held out for validation and early stopping.") var validationFraction = 0.1
    @Option(help: "Epochs without a better validation loss before stopping.") var patience = 5
    @Option(help: "Loss: l2 (paper, eq. 2) or mse.") var loss = "l2"
    @Option(help: "Seed of initialization, split, shuffles and dropout.") var seed: UInt64 = 1
    @Option(help: "Threads of each matrix product.") var threads = WorkerConfiguration.defaultComputeThreads

    func validate() throws {
        guard ReconstructionLoss(rawValue: loss) != nil else { throw ValidationError("--loss must be l2 or mse, got \(loss)") }
        guard parsedLayers != nil else { throw ValidationError("--layers must be positive integers separated by commas, got \(layers)") }
        guard epochs >= 1, batchSize >= 1, threads >= 1, patience >= 1 else {
            throw ValidationError("--epochs, --batch-size, --patience and --threads must be at least 1")
        }
        guard validationFraction >= 0, validationFraction < 1 else { throw ValidationError("--validation-fraction must be in [0, 1)") }
        guard dropout >= 0, dropout < 1 else { throw ValidationError("--dropout must be in [0, 1)") }
        guard inputDropout >= 0, inputDropout < 1 else { throw ValidationError("--input-dropout must be in [0, 1)") }
    }

    private var parsedLayers: [Int]? {
        let parts = layers.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !parts.isEmpty, parts.allSatisfy({ ($0 ?? 0) >= 1 }) else { return nil }
        return parts.compactMap { $0 }
    }

    func run() throws {
        let file = try FeatureFile.Mapped(url: URL(fileURLWithPath: features))
        let base = try file.exportManifest()
        guard base.layers.first == file.inputSize else {
            throw ValidationError(
                "\(features): rows have \(file.inputSize) features but the layout in its metadata has \(base.layers.first ?? 0)")
        }
        var options = TrainingOptions()
        options.hidden = parsedLayers ?? options.hidden
        options.epochs = epochs
        options.batchSize = batchSize
        options.learningRate = learningRate
        options.dropout = dropout
        options.inputDropout = inputDropout
        options.validationFraction = validationFraction
        options.patience = patience
        options.loss = ReconstructionLoss(rawValue: loss) ?? .l2
        options.seed = seed
        options.threads = threads
        FileHandle.standardError.write(
            Data(
                "training \([file.inputSize] + options.hidden) + mirror on \(file.rows) users (\(options.loss.rawValue), \(threads) threads)\n"
                    .utf8))
        let line = ProgressLine()
        let result = try file.withFeatures { rows in
            try Trainer.train(features: rows, rows: file.rows, width: file.inputSize, options: options) { p in
                let rate = Double(p.rowsDone) / max(p.seconds, 1e-3)
                let eta = rate > 0 ? Double(p.rows - p.rowsDone) / rate : 0
                let previous =
                    p.previous.map { r in
                        String(format: " | epoch %d train %.5g", r.epoch, r.trainLoss)
                            + (r.validationLoss.map { String(format: " val %.5g", $0) } ?? "")
                    } ?? ""
                line.show(
                    String(
                        format: "epoch %d/%d: %d/%d users, loss %.5g, %.0f users/s, ETA %.0fs", p.epoch, p.epochs, p.rowsDone, p.rows,
                        p.trainLoss, rate, eta)
                        + previous, force: p.rowsDone == p.rows)
            }
        }
        line.finish()
        let manifest = TrainedModel.manifest(
            result, exportedWith: base, batchID: batchId, options: options, features: URL(fileURLWithPath: features).lastPathComponent,
            asOf: file.metadata["as_of_ms"] ?? "unknown")
        let directory = URL(fileURLWithPath: output)
        try TrainedModel.write(result, manifest: manifest, to: directory)
        // The written model must load as the worker loads it.
        _ = try EncoderModel.load(manifestURL: directory.appendingPathComponent("manifest.json"))
        let kept = result.history.first { $0.epoch == result.bestEpoch }
        print(
            "trained \(result.history.count) epochs\(result.stoppedEarly ? " (stopped early)" : ""), kept epoch \(result.bestEpoch): train \(String(format: "%.5g", kept?.trainLoss ?? 0))"
                + (kept?.validationLoss.map { ", validation \(String(format: "%.5g", $0))" } ?? "")
                + "; \(result.trainRows) users trained, \(result.validationRows) held out, \(result.constantFeatures) constant features; wrote \(directory.path)"
        )
    }
}
