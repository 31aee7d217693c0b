// Writes a trained autoencoder as a model directory `userrep run` loads, with its loss curves.
import Foundation

/// The files of a trained model: `manifest.json`, `model.safetensors` (encoder and
/// normalization), `decoder.safetensors`, `loss.csv` and `loss.svg`.
public enum TrainedModel {
    /// The encoder (and normalization) tensors of `result`, named as the manifest expects.
    public static func encoderTensors(_ result: TrainingResult) -> SafeTensors {
        let net = result.network
        var tensors: [String: SafeTensors.Tensor] = [:]
        for l in 0..<net.encoderLayers {
            tensors[ModelManifest.weightTensor(l)] = .init(shape: [net.sizes[l + 1], net.sizes[l]], values: net.weights[l])
            tensors[ModelManifest.biasTensor(l)] = .init(shape: [net.sizes[l + 1]], values: net.biases[l])
        }
        tensors["normalization.mean"] = .init(shape: [net.inputSize], values: result.mean)
        tensors["normalization.std"] = .init(shape: [net.inputSize], values: result.std)
        return SafeTensors(tensors: tensors)
    }

    /// The decoder tensors, `decoder.{i}.weight` / `decoder.{i}.bias` from the code outwards.
    public static func decoderTensors(_ result: TrainingResult) -> SafeTensors {
        let net = result.network
        var tensors: [String: SafeTensors.Tensor] = [:]
        for (i, l) in (net.encoderLayers..<net.layerCount).enumerated() {
            tensors["decoder.\(i).weight"] = .init(shape: [net.sizes[l + 1], net.sizes[l]], values: net.weights[l])
            tensors["decoder.\(i).bias"] = .init(shape: [net.sizes[l + 1]], values: net.biases[l])
        }
        return SafeTensors(tensors: tensors)
    }

    /// The manifest of the trained model: the export's layout, vocabularies and imputation values
    /// (so it is served exactly the features it was trained on), the new layers, batch id,
    /// normalization and training record.
    public static func manifest(
        _ result: TrainingResult, exportedWith base: ModelManifest, batchID: String, options: TrainingOptions, features: String,
        asOf: String
    ) -> ModelManifest {
        var m = base
        let net = result.network
        m.batchId = batchID
        m.layers = Array(net.sizes[0...net.encoderLayers])
        m.activation = Activation.selu.rawValue
        m.outputActivation = nil
        m.weights = "model.safetensors"
        m.normalization = .init(mean: "normalization.mean", std: "normalization.std")
        let kept = result.history.first { $0.epoch == result.bestEpoch } ?? result.history.last
        m.training = .init(
            trainRows: result.trainRows, validationRows: result.validationRows, epochs: result.history.count, bestEpoch: result.bestEpoch,
            trainLoss: kept?.trainLoss ?? 0, validationLoss: kept?.validationLoss, loss: options.loss.rawValue,
            learningRate: decimal(options.learningRate), batchSize: options.batchSize, dropout: decimal(options.dropout),
            seed: options.seed, inputDropout: options.inputDropout > 0 ? decimal(options.inputDropout) : nil,
            decoderLayers: Array(net.sizes[net.encoderLayers...]), decoderWeights: "decoder.safetensors", features: features,
            featuresAsOf: asOf)
        return m
    }

    /// A setting as the decimal it was written as (0.05, not 0.05000000074505806 from the Float).
    private static func decimal(_ value: Float) -> Double { Double("\(value)") ?? Double(value) }

    /// Writes the model directory at `directory` whole or not at all (a temporary sibling renamed
    /// into place; an existing directory is replaced only once the new one is complete).
    public static func write(_ result: TrainingResult, manifest: ModelManifest, to directory: URL) throws {
        try ModelDirectory.write(directory) { temporary in
            try encoderTensors(result).serialized().write(to: temporary.appendingPathComponent("model.safetensors"))
            try decoderTensors(result).serialized().write(to: temporary.appendingPathComponent("decoder.safetensors"))
            try manifest.encoded().write(to: temporary.appendingPathComponent("manifest.json"))
            try Data(lossCSV(result.history).utf8).write(to: temporary.appendingPathComponent("loss.csv"))
            try Data(lossSVG(result.history, loss: manifest.training?.loss ?? "loss").utf8).write(
                to: temporary.appendingPathComponent("loss.svg"))
        }
    }

    /// `epoch,train_loss,validation_loss,seconds`, one line per epoch.
    public static func lossCSV(_ history: [EpochRecord]) -> String {
        "epoch,train_loss,validation_loss,seconds\n"
            + history.map {
                "\($0.epoch),\($0.trainLoss),\($0.validationLoss.map { "\($0)" } ?? ""),\(String(format: "%.3f", $0.seconds))\n"
            }
            .joined()
    }

    /// A line chart of the training and validation loss per epoch, as standalone SVG.
    public static func lossSVG(_ history: [EpochRecord], loss: String) -> String {
        let width = 640.0, height = 400.0, left = 70.0, right = 20.0, top = 40.0, bottom = 50.0
        let values = history.flatMap { [$0.trainLoss] + ($0.validationLoss.map { [$0] } ?? []) }
        let lo = values.min() ?? 0, hi = values.max() ?? 1
        let span = hi > lo ? hi - lo : max(abs(hi), 1)
        let epochs = max(history.count, 2)
        func x(_ epoch: Int) -> Double { left + Double(epoch - 1) / Double(epochs - 1) * (width - left - right) }
        func y(_ v: Double) -> Double { top + (1 - (v - lo) / span) * (height - top - bottom) }
        func line(_ points: [(Int, Double)], _ color: String) -> String {
            guard !points.isEmpty else { return "" }
            let d = points.map { String(format: "%.1f,%.1f", x($0.0), y($0.1)) }.joined(separator: " ")
            return "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" points=\"\(d)\"/>\n"
        }
        var svg =
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" font-family=\"sans-serif\" font-size=\"12\">\n"
        svg += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        svg +=
            "<text x=\"\(Int(width / 2))\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">Reconstruction loss (\(loss)) per epoch</text>\n"
        svg += "<line x1=\"\(left)\" y1=\"\(height - bottom)\" x2=\"\(width - right)\" y2=\"\(height - bottom)\" stroke=\"black\"/>\n"
        svg += "<line x1=\"\(left)\" y1=\"\(top)\" x2=\"\(left)\" y2=\"\(height - bottom)\" stroke=\"black\"/>\n"
        for i in 0...4 {
            let v = lo + span * Double(i) / 4
            svg +=
                "<text x=\"\(left - 6)\" y=\"\(String(format: "%.1f", y(v) + 4))\" text-anchor=\"end\">\(String(format: "%.4g", v))</text>\n"
        }
        for e in Set([1, (history.count + 1) / 2, history.count]).sorted() where e >= 1 {
            svg += "<text x=\"\(String(format: "%.1f", x(e)))\" y=\"\(height - bottom + 18)\" text-anchor=\"middle\">\(e)</text>\n"
        }
        svg += "<text x=\"\(Int(width / 2))\" y=\"\(Int(height - 12))\" text-anchor=\"middle\">epoch</text>\n"
        svg += line(history.map { ($0.epoch, $0.trainLoss) }, "#1f77b4")
        svg += line(history.compactMap { r in r.validationLoss.map { (r.epoch, $0) } }, "#d62728")
        svg += "<text x=\"\(width - right - 150)\" y=\"\(top + 10)\" fill=\"#1f77b4\">— training</text>\n"
        svg += "<text x=\"\(width - right - 150)\" y=\"\(top + 26)\" fill=\"#d62728\">— validation</text>\n"
        svg += "</svg>\n"
        return svg
    }
}
