// `userrep model`: create and inspect model files.
import ArgumentParser
import Foundation
import UserRepModel

/// Model file tools.
struct ModelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "Create or inspect encoder model files (safetensors + JSON manifest).",
        subcommands: [Init.self, Inspect.self]
    )

    /// Writes a random-weight model with a valid manifest.
    struct Init: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a random-weight model with a valid manifest (for demos and tests; no training).",
            discussion: """
                Example:
                  userrep model init --output models/random --batch-id b1 --embedding-batch-id emb-1
                """
        )
        @Option(help: "Directory to write manifest.json and model.safetensors into.") var output: String
        @Option(help: "Model batch id.") var batchId = "random-1"
        @Option(help: "Track-embedding batch id the model belongs to.") var embeddingBatchId = "emb-demo-1"
        @Option(help: "Audio embedding dimensions.") var audioDims = 80
        @Option(help: "Collaborative embedding dimensions.") var collaborativeDims = 80
        @Option(help: "Hidden layer sizes, comma separated.") var hidden = "512,256"
        @Option(help: "Output vector size.") var outputSize = 120
        @Option(help: "Random seed.") var seed: UInt64 = 1

        func run() throws {
            let layers = hidden.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard layers.count == hidden.split(separator: ",").count, layers.allSatisfy({ $0 > 0 }) else {
                throw ValidationError("--hidden must be positive integers separated by commas, got '\(hidden)'")
            }
            let (manifest, weights) = ModelFactory.random(
                batchID: batchId, embeddingBatchID: embeddingBatchId,
                dims: .init(audio: audioDims, collaborative: collaborativeDims), hidden: layers, outputSize: outputSize, seed: seed)
            let url = try ModelFactory.write(manifest: manifest, weights: weights, to: URL(fileURLWithPath: output))
            _ = try EncoderModel.load(manifestURL: url)
            print("wrote \(url.path): batch \(batchId), layers \(manifest.layers)")
        }
    }

    /// Loads and validates a model, printing its shape.
    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Load and validate a model; print its batch, layers and feature layout.",
            discussion: """
                Example:
                  userrep model inspect models/random/manifest.json
                """
        )
        @Argument(help: "Manifest file.") var manifest: String

        func run() throws {
            let model = try EncoderModel.load(manifestURL: URL(fileURLWithPath: manifest))
            print("batch \(model.batchID), embedding batch \(model.manifest.embeddingBatchId)")
            print(
                "layers \(model.manifest.layers), activation \(model.manifest.activation), normalized \(model.inputMean.isEmpty ? "no" : "yes")"
            )
            for g in model.layout.groups {
                print("  [\(g.offset)..<\(g.offset + g.size)] \(g.name) (\(g.kind.rawValue)\(g.horizon.map { ", \($0)" } ?? ""))")
            }
            if let t = model.manifest.training {
                print("trained on \(t.trainRows) users (\(t.validationRows) held out) from \(t.features) (as of \(t.featuresAsOf))")
                print(
                    "  \(t.epochs) epochs, kept epoch \(t.bestEpoch): \(t.loss) train \(String(format: "%.5g", t.trainLoss))"
                        + (t.validationLoss.map { ", validation \(String(format: "%.5g", $0))" } ?? ""))
                print("  adam lr \(t.learningRate), batch \(t.batchSize), alpha dropout \(t.dropout), seed \(t.seed); decoder \(t.decoderLayers) in \(t.decoderWeights)")
            } else {
                print("not trained by userrep train (random or imported weights)")
            }
        }
    }
}
