// Training end to end on synthetic data, the features file format, and the bad inputs.
import Foundation
import Testing
@testable import UserRepModel

@Suite struct TrainerTests {
    /// Rows `Z · A + noise` with `Z` of `rank` columns: a planted low-dimensional structure.
    static func planted(rows: Int, width: Int, rank: Int, noise: Float, seed: UInt64) -> [Float] {
        var rng = SplitMix64(seed: seed)
        let a = (0..<(rank * width)).map { _ in rng.nextGaussian() }
        var x = [Float](repeating: 0, count: rows * width)
        for r in 0..<rows {
            let z = (0..<rank).map { _ in rng.nextGaussian() }
            for k in 0..<width {
                var v: Float = 0
                for j in 0..<rank { v += z[j] * a[j * width + k] }
                x[r * width + k] = v + noise * rng.nextGaussian() + Float(k)
            }
        }
        return x
    }

    func train(_ x: [Float], rows: Int, width: Int, options: TrainingOptions) throws -> TrainingResult {
        try x.withUnsafeBufferPointer { try Trainer.train(features: $0, rows: rows, width: width, options: options) }
    }

    /// A small network for the planted rank-3 structure of 16 features: MSE, no dropout.
    static var plantedOptions: TrainingOptions {
        var options = TrainingOptions()
        options.hidden = [12, 3]
        options.epochs = 25
        options.batchSize = 64
        options.learningRate = 3e-3
        options.dropout = 0
        options.loss = .mse
        options.threads = 2
        return options
    }

    @Test func trainingLearnsAPlantedStructureDeterministically() throws {
        let rows = 1_500, width = 16
        let x = Self.planted(rows: rows, width: width, rank: 3, noise: 0.05, seed: 2)
        var options = Self.plantedOptions
        let a = try train(x, rows: rows, width: width, options: options)
        let b = try train(x, rows: rows, width: width, options: options)
        #expect(a.network == b.network, "same data, seed and threads give bit-identical weights")
        let first = try #require(a.history.first?.validationLoss), last = try #require(a.history.last?.validationLoss)
        // Standardized inputs: predicting the mean scores about 1; rank 3 of 16 is almost all signal.
        #expect(last < 0.1 && last < first / 3, "validation MSE went from \(first) to \(last)")
        #expect(a.trainRows == 1_350 && a.validationRows == 150)
        #expect(a.mean[5] > 4 && a.mean[5] < 6, "the offsets are standardized away (mean of feature 5: \(a.mean[5]))")
        options.seed = 2
        let c = try train(x, rows: rows, width: width, options: options)
        #expect(c.network != a.network, "another seed gives other weights")
    }

    @Test func theAutoencoderComesWithinAStatedFactorOfPCAAtTheSameCodeWidth() throws {
        let width = 16, rank = 3, trainRows = 2_000, testRows = 500
        let all = Self.planted(rows: trainRows + testRows, width: width, rank: rank, noise: 0.1, seed: 12)
        var options = TrainingOptions()
        options.hidden = [12, rank]
        options.epochs = 60
        options.patience = 60
        options.batchSize = 64
        options.learningRate = 3e-3
        options.dropout = 0
        options.loss = .mse
        let train = Array(all[..<(trainRows * width)])
        let result = try self.train(train, rows: trainRows, width: width, options: options)
        // Both on the same standardized scale (the training statistics), on rows neither saw.
        var standardized = all
        for r in 0..<(trainRows + testRows) {
            for k in 0..<width { standardized[r * width + k] = (all[r * width + k] - result.mean[k]) / result.std[k] }
        }
        let test = Array(trainRows..<(trainRows + testRows))
        let (pcaError, pca) = try standardized.withUnsafeBufferPointer { x in
            let pca = try PCA(x, width: width, rows: Array(0..<trainRows), count: rank)
            return (pca.reconstructionMSE(x, rows: test), pca)
        }
        var ws = AutoencoderWorkspace(network: result.network, rows: 256)
        let aeError = all.withUnsafeBufferPointer { x in
            Trainer.evaluate(result.network, x, width: width, rows: test, mean: result.mean, std: result.std, loss: .mse, workspace: &ws)
        }
        // PCA is the optimum for a linear structure; the SELU autoencoder must come within 1.5× (measured: 0.0142 against 0.0117, 1.21×).
        #expect(aeError <= 1.5 * pcaError, "autoencoder MSE \(aeError) against PCA's \(pcaError) at code width \(rank)")
        #expect(aeError < 0.2, "and well below the 1.0 of predicting the mean")
        // The PCA is itself right: orthonormal components, the planted rank holding the variance.
        for a in 0..<rank {
            for b in 0..<rank {
                let dot = (0..<width).reduce(0.0) { $0 + pca.components[a * width + $1] * pca.components[b * width + $1] }
                #expect(abs(dot - (a == b ? 1 : 0)) < 1e-9)
            }
        }
        #expect(pca.variances.reduce(0, +) > 0.9 * Double(width), "three components explain most of the unit variances")
    }

    /// The mean squared error of reconstructing the first `rows` standardized rows of `x` from
    /// those rows with every `maskEvery`-th feature set to 0 (its mean).
    func maskedReconstructionError(_ result: TrainingResult, _ x: [Float], rows: Int, width: Int, maskEvery: Int) -> Double {
        var ws = AutoencoderWorkspace(network: result.network, rows: rows)
        var clean = [Float](repeating: 0, count: rows * width)
        for r in 0..<rows {
            for k in 0..<width { clean[r * width + k] = (x[r * width + k] - result.mean[k]) / result.std[k] }
        }
        ws.withInput { input in for i in clean.indices { input[i] = i % maskEvery == 0 ? 0 : clean[i] } }
        var unused = SplitMix64(seed: 0)
        result.network.forward(rows: rows, workspace: &ws, dropout: nil, rng: &unused)
        let y = ws.activations(layer: result.network.layerCount)
        var total = 0.0
        for i in clean.indices { total += Double(y[i] - clean[i]) * Double(y[i] - clean[i]) }
        return total / Double(clean.count)
    }

    @Test func inputMaskingLearnsToFillInMissingFeaturesDeterministically() throws {
        let rows = 1_500, width = 16
        let x = Self.planted(rows: rows, width: width, rank: 3, noise: 0.05, seed: 2)
        var options = Self.plantedOptions
        let plain = try train(x, rows: rows, width: width, options: options)
        options.inputDropout = 0.3
        let denoising = try train(x, rows: rows, width: width, options: options)
        let again = try train(x, rows: rows, width: width, options: options)
        #expect(denoising.network == again.network, "masking draws from the seed: the same weights twice")
        #expect(denoising.network != plain.network)
        // A quarter of the features missing: the denoising network infers them from the others
        // (the structure is rank 3); the plain one never saw a missing feature.
        let plainError = maskedReconstructionError(plain, x, rows: 300, width: width, maskEvery: 4)
        let denoisingError = maskedReconstructionError(denoising, x, rows: 300, width: width, maskEvery: 4)
        #expect(denoisingError < plainError / 2, "masked-input MSE: denoising \(denoisingError), plain \(plainError)")
        #expect(denoisingError < 0.2, "masked-input MSE \(denoisingError)")
        // Clean rows are still reconstructed (validation compares clean with clean).
        let clean = try #require(denoising.history.last?.validationLoss)
        #expect(clean < 0.2, "clean validation MSE \(clean)")
    }

    @Test func maskingZeroesTheRateAndKeepsTheCleanRow() {
        var rng = SplitMix64(seed: 4)
        let n = 100_000
        var x = (0..<n).map { Float($0 % 97) + 1 }
        let original = x
        var clean = [Float](repeating: -1, count: n)
        x.withUnsafeMutableBufferPointer { xb in
            clean.withUnsafeMutableBufferPointer { cb in Trainer.mask(xb, count: n, rate: 0.3, keeping: cb, &rng) }
        }
        #expect(clean == original, "the clean copy is the row before masking")
        let zeroed = x.filter { $0 == 0 }.count
        #expect(abs(Double(zeroed) / Double(n) - 0.3) < 0.01, "\(zeroed) of \(n) set to the mean")
        #expect(zip(x, original).allSatisfy { $0 == 0 || $0 == $1 }, "the rest is untouched")
    }

    @Test func constantFeaturesAreCentredNotDividedByZero() throws {
        var x = Self.planted(rows: 200, width: 6, rank: 2, noise: 0.1, seed: 4)
        for r in 0..<200 { x[r * 6 + 2] = 7 }
        var options = TrainingOptions()
        options.hidden = [4, 2]
        options.epochs = 2
        let result = try train(x, rows: 200, width: 6, options: options)
        #expect(result.constantFeatures == 1 && result.std[2] == 1 && result.mean[2] == 7)
        #expect(result.history.allSatisfy { $0.trainLoss.isFinite && ($0.validationLoss?.isFinite ?? false) })
    }

    @Test func badInputsGetClearErrors() throws {
        var options = TrainingOptions()
        options.hidden = [2]
        var x = [Float](repeating: 1, count: 30)
        x[17] = .nan
        #expect(throws: ModelError.self) { try train(x, rows: 10, width: 3, options: options) }
        do { _ = try train(x, rows: 10, width: 3, options: options) } catch { #expect("\(error)".contains("row 5")) }
        #expect(throws: ModelError.self) { try train([], rows: 0, width: 3, options: options) }
        var masking = options
        masking.inputDropout = 1
        do {
            _ = try train([Float](repeating: 1, count: 30), rows: 10, width: 3, options: masking)
            Issue.record("an input dropout of 1 masks everything and must fail")
        } catch { #expect("\(error)".contains("input dropout")) }
        options.validationFraction = 0.99
        do {
            _ = try train([Float](repeating: 1, count: 3), rows: 1, width: 3, options: options)
            Issue.record("a split of one row into training and validation must fail")
        } catch { #expect("\(error)".contains("leaves no training rows")) }
    }

    @Test func aFeaturesFileRoundTripsAndIsWrittenWholeOrNotAtAll() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("features-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("f.safetensors")
        let (manifest, _) = ModelFactory.random(batchID: "b", embeddingBatchID: "e", dims: .init(audio: 2, collaborative: 2))
        let meta = ["manifest": String(decoding: try manifest.encoded(), as: UTF8.self), "as_of_ms": "5"]
        let width = manifest.layers[0]
        let writer = try FeatureFile.Writer(url: url, rows: 2, inputSize: width, idBytes: 5, metadata: meta)
        let r0 = (0..<width).map { Float($0) }, r1 = (0..<width).map { -Float($0) / 3 }
        try r0.withUnsafeBufferPointer { try writer.append(userID: Array("u1".utf8), row: $0) }
        #expect(!FileManager.default.fileExists(atPath: url.path), "nothing at the target until finish")
        try r1.withUnsafeBufferPointer { try writer.append(userID: Array("u22".utf8), row: $0) }
        try writer.finish()
        let mapped = try FeatureFile.Mapped(url: url)
        #expect(mapped.rows == 2 && mapped.inputSize == width && mapped.userID(0) == "u1" && mapped.userID(1) == "u22")
        #expect(mapped.withFeatures { Array($0) } == r0 + r1)
        #expect(try mapped.exportManifest() == manifest && mapped.metadata["as_of_ms"] == "5")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["f.safetensors"], "no temporary file left")

        // A plain safetensors file (not an export), an empty file: clear errors.
        let weights = dir.appendingPathComponent("w.safetensors")
        try SafeTensors(tensors: ["x": .init(shape: [1], values: [1])]).serialized().write(to: weights)
        do { _ = try FeatureFile.Mapped(url: weights); Issue.record("not a features file") } catch {
            #expect("\(error)".contains("not a userrep features file"))
        }
        let empty = dir.appendingPathComponent("empty.safetensors")
        try Data().write(to: empty)
        do { _ = try FeatureFile.Mapped(url: empty); Issue.record("empty") } catch { #expect("\(error)".contains("empty")) }
    }
}
