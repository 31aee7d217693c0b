// `userrep model`: create and inspect model files.
import ArgumentParser
import Foundation
import UserRepModel

/// Model file tools.
struct ModelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "Create or inspect encoder model files (safetensors + JSON manifest).",
        subcommands: [Init.self, Import.self, Inspect.self]
    )

    /// Writes a random-weight model with a valid manifest.
    struct Init: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a random-weight model with a valid manifest (for demos and tests; no training).",
            discussion: """
                The listening preset reads play counts and mean embeddings per window; the context \
                preset adds device mix, country, account age and onboarding picks (the paper's c_u), \
                with the vocabularies given.

                Example:
                  userrep model init --output models/random --batch-id b1 --embedding-batch-id emb-1
                  userrep model init --output models/ctx --preset context --countries SE,US --languages en,sv
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
        @Option(help: "Feature layout preset: listening or context.") var preset = "listening"
        @Option(help: "Country vocabulary of the context preset, comma separated.") var countries = ""
        @Option(help: "Language vocabulary of the context preset, comma separated.") var languages = ""
        @Option(
            help: "Listens a longer window's mean weighs in a shorter window's (1w leans on 1m, 1m on 6m); 0 uses a window's own mean whenever it has listens."
        ) var priorListens = ModelManifest.defaultPriorListens

        func validate() throws { try checkPrior(priorListens) }

        func run() throws {
            guard let preset = ModelImport.Preset(rawValue: preset) else { throw ValidationError("--preset must be listening or context") }
            let context = preset == .context ? (countries: list(countries), languages: list(languages)) : nil
            if let context, context.countries.isEmpty || context.languages.isEmpty {
                throw ValidationError("the context preset needs --countries and --languages")
            }
            let layers = hidden.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard layers.count == hidden.split(separator: ",").count, layers.allSatisfy({ $0 > 0 }) else {
                throw ValidationError("--hidden must be positive integers separated by commas, got '\(hidden)'")
            }
            let (manifest, weights) = ModelFactory.random(
                batchID: batchId, embeddingBatchID: embeddingBatchId,
                dims: .init(audio: audioDims, collaborative: collaborativeDims), hidden: layers, outputSize: outputSize, seed: seed,
                context: context, priorListens: priorListens)
            let url = try ModelFactory.write(manifest: manifest, weights: weights, to: URL(fileURLWithPath: output))
            _ = try EncoderModel.load(manifestURL: url)
            print("wrote \(url.path): batch \(batchId), layers \(manifest.layers)")
        }
    }

    /// Writes a manifest for weights trained elsewhere.
    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a manifest for safetensors weights trained elsewhere (e.g. PyTorch), with a preset feature layout.",
            discussion: """
                The layers are the weights' PREFIX.N.weight / PREFIX.N.bias tensors in N order (a PyTorch \
                nn.Sequential saved with safetensors: layers.0, layers.2, ...), or the ones --layers names. \
                Their shapes must chain, and the first layer's input must be the preset layout's width \
                (listening: 3 + 3*audio + 3*collaborative). With --features (an export of the same layout), \
                each imputed group gets the mean of the rows where it was observed instead of a fixed \
                value. The weights are copied beside the manifest; the model is loaded once as the worker \
                would before anything is kept.

                Example:
                  userrep model import --weights encoder.safetensors --output models/pt1 --batch-id pt1 \\
                    --embedding-batch-id emb-1 --layers layers.0,layers.2,layers.4 --features features.safetensors
                """
        )
        @Option(help: "Safetensors weights file.") var weights: String
        @Option(help: "Directory to write manifest.json and the weights into.") var output: String
        @Option(help: "Model batch id.") var batchId: String
        @Option(help: "Track-embedding batch id the model belongs to.") var embeddingBatchId: String
        @Option(help: "Tensor prefixes of the encoder's layers in order, comma separated (default: found from the names).") var layers:
            String?
        @Option(help: "Feature layout preset: listening or context.") var preset = "listening"
        @Option(help: "Audio embedding dimensions.") var audioDims = 80
        @Option(help: "Collaborative embedding dimensions.") var collaborativeDims = 80
        @Option(help: "Country vocabulary of the context preset, comma separated.") var countries = ""
        @Option(help: "Language vocabulary of the context preset, comma separated.") var languages = ""
        @Option(
            help: "Listens a longer window's mean weighs in a shorter window's (1w leans on 1m, 1m on 6m); 0 uses a window's own mean whenever it has listens."
        ) var priorListens = ModelManifest.defaultPriorListens
        @Option(help: "Exported features (same layout) to take imputation values from.") var features: String?

        func validate() throws { try checkPrior(priorListens) }

        func run() throws {
            guard let preset = ModelImport.Preset(rawValue: preset) else { throw ValidationError("--preset must be listening or context") }
            let source = URL(fileURLWithPath: weights)
            let tensors = try SafeTensors(contentsOf: source)
            let prefixes = layers.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
            let names = try ModelImport.layerTensors(tensors, prefixes: prefixes)
            let manifest = try ModelImport.manifest(
                weights: tensors, weightsFile: source.lastPathComponent, layers: names, batchID: batchId,
                embeddingBatchID: embeddingBatchId,
                dims: .init(audio: audioDims, collaborative: collaborativeDims), preset: preset, countries: list(countries),
                languages: list(languages), features: try features.map { try FeatureFile.Mapped(url: URL(fileURLWithPath: $0)) },
                priorListens: priorListens)
            let directory = URL(fileURLWithPath: output)
            try ModelDirectory.write(directory) { temporary in
                try FileManager.default.copyItem(at: source, to: temporary.appendingPathComponent(source.lastPathComponent))
                try manifest.encoded().write(to: temporary.appendingPathComponent("manifest.json"))
                _ = try EncoderModel.load(manifestURL: temporary.appendingPathComponent("manifest.json"))
            }
            print(
                "wrote \(directory.appendingPathComponent("manifest.json").path): batch \(batchId), layers \(manifest.layers), tensors \(names.map(\.weight))"
            )
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
                print(
                    "  adam lr \(t.learningRate), batch \(t.batchSize), alpha dropout \(t.dropout)"
                        + (t.inputDropout.map { ", input masking \($0)" } ?? "")
                        + ", seed \(t.seed); decoder \(t.decoderLayers) in \(t.decoderWeights)"
                )
            } else {
                print("not trained by userrep train (random or imported weights)")
            }
        }
    }
}

/// The comma-separated items of a command-line value, trimmed; empty for "".
func list(_ s: String) -> [String] { s.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }

/// Refuses a `--prior-listens` that is negative or not a number.
func checkPrior(_ k: Float) throws {
    guard k.isFinite, k >= 0 else { throw ValidationError("--prior-listens must be a number ≥ 0, got \(k)") }
}
