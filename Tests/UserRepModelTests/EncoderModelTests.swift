// The BLAS encoder against a plain-loop implementation, and the manifest's error messages.
import Foundation
import Testing
import UserRepModel

@Suite struct EncoderModelTests {
    /// Independent reference: standardize, then y = act(W x + b) with plain loops in Double.
    static func naive(_ model: EncoderModel, _ weights: SafeTensors, input: [Float]) -> [Double] {
        let m = model.manifest
        var x = input.map(Double.init)
        if let norm = m.normalization, let mean = weights.tensors[norm.mean], let std = weights.tensors[norm.std] {
            for k in x.indices { x[k] = (x[k] - Double(mean.values[k])) / Double(std.values[k]) }
        }
        for i in 0..<(m.layers.count - 1) {
            let w = weights.tensors[ModelManifest.weightTensor(i)]!.values
            let b = weights.tensors[ModelManifest.biasTensor(i)]!.values
            let n = m.layers[i], out = m.layers[i + 1]
            var y = [Double](repeating: 0, count: out)
            for o in 0..<out {
                var s = Double(b[o])
                for k in 0..<n { s += Double(w[o * n + k]) * x[k] }
                let last = i == m.layers.count - 2
                if last {
                    y[o] = s
                } else {
                    y[o] = s > 0 ? 1.0507009873554805 * s : 1.0507009873554805 * 1.6732632423543772 * (exp(s) - 1)
                }
            }
            x = y
        }
        return x
    }

    /// Row by row (SGEMV) up to `BLASMatrix.rowByRowMaximum` rows and one SGEMM past it, within one
    /// block and across block boundaries (the last block partial).
    @Test(arguments: [1, 3, BLASMatrix.rowByRowMaximum, BLASMatrix.rowByRowMaximum + 1, 37, EncoderModel.blockRows * 2 + 5])
    func encoderMatchesNaiveImplementation(rows: Int) throws {
        let dims = ModelManifest.EmbeddingDims(audio: 8, collaborative: 6)
        let (manifest, weights) = ModelFactory.random(
            batchID: "b1", embeddingBatchID: "e1", dims: dims, hidden: [32, 16], outputSize: 12, seed: 3)
        var tensors = weights
        var rng = SplitMix64(seed: 99)
        // Random non-zero biases too, so the bias path is checked.
        for i in 0..<3 {
            let b = tensors.tensors[ModelManifest.biasTensor(i)]!
            tensors.tensors[ModelManifest.biasTensor(i)] = .init(shape: b.shape, values: b.values.map { _ in rng.nextGaussian() * 0.3 })
        }
        let model = try EncoderModel(manifest: manifest, weights: tensors)
        let input = (0..<(rows * model.inputSize)).map { _ in rng.nextGaussian() }
        var scratch = input
        let out = model.encode(rows: rows, input: &scratch)
        #expect(out.count == rows * 12)
        for r in 0..<rows {
            let expected = Self.naive(model, tensors, input: Array(input[(r * model.inputSize)..<((r + 1) * model.inputSize)]))
            for o in 0..<12 {
                let got = Double(out[r * 12 + o])
                #expect(abs(got - expected[o]) <= 1e-4 * max(1, abs(expected[o])), "row \(r) output \(o): \(got) vs \(expected[o])")
            }
        }
    }

    @Test func vectorizedExpAndSeluMatchTheScalarOnes() {
        var rng = SplitMix64(seed: 8)
        var worst: Float = 0
        for _ in 0..<2_000 {
            let x = SIMD8<Float>((0..<8).map { _ in Float(rng.nextUnit() * 60 - 50) })
            let e = FastMath.exp(x)
            for i in 0..<8 { worst = max(worst, abs(e[i] - expf(x[i])) / max(expf(x[i]), 1e-30)) }
        }
        #expect(worst < 1e-6, "relative error \(worst)")
        var values = (0..<1_003).map { _ in Float(rng.nextGaussian() * 3) }
        let expected = values.map { Activation.selu.apply($0) }
        values.withUnsafeMutableBufferPointer { Activation.selu.apply($0) }
        for (got, want) in zip(values, expected) { #expect(abs(got - want) <= 1e-6 * max(1, abs(want))) }
    }

    @Test func modelRoundTripsThroughFiles() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("userrep-model-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (manifest, weights) = ModelFactory.random(batchID: "b1", embeddingBatchID: "e1", dims: .init(audio: 80, collaborative: 80))
        let url = try ModelFactory.write(manifest: manifest, weights: weights, to: dir)
        let model = try EncoderModel.load(manifestURL: url)
        #expect(model.inputSize == 483)
        #expect(model.outputSize == 120)
        #expect(model.layers.map(\.outputs) == [512, 256, 120])
    }

    func expectModelError(_ fragment: String, _ build: () throws -> EncoderModel) {
        do {
            _ = try build()
            Issue.record("expected an error mentioning '\(fragment)'")
        } catch let error as ModelError {
            #expect(error.message.contains(fragment), "message was: \(error.message)")
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test func manifestErrorsAreClear() {
        let dims = ModelManifest.EmbeddingDims(audio: 4, collaborative: 4)
        let (manifest, weights) = ModelFactory.random(batchID: "b1", embeddingBatchID: "e1", dims: dims, hidden: [8], outputSize: 6)

        var missing = weights
        missing.tensors.removeValue(forKey: "encoder.1.weight")
        expectModelError("missing tensor 'encoder.1.weight'") { try EncoderModel(manifest: manifest, weights: missing) }

        var wrongShape = weights
        wrongShape.tensors["encoder.0.weight"] = .init(shape: [8, 5], values: [Float](repeating: 0, count: 40))
        expectModelError("has shape [8, 5] but the manifest requires [8, 27]") { try EncoderModel(manifest: manifest, weights: wrongShape) }

        var badActivation = manifest
        badActivation.activation = "swish"
        expectModelError("unknown activation 'swish'") { try EncoderModel(manifest: badActivation, weights: weights) }

        var badLayout = manifest
        badLayout.features[4].size = 3
        expectModelError("has size 3 but the embedding dimensions require 4") { try EncoderModel(manifest: badLayout, weights: weights) }

        var badInput = manifest
        badInput.layers[0] = 30
        expectModelError("covers 27 inputs but the first layer takes 30") { try EncoderModel(manifest: badInput, weights: weights) }

        var nonFinite = weights
        nonFinite.tensors["encoder.0.bias"] = .init(shape: [8], values: [0, 0, .nan, 0, 0, 0, 0, 0])
        expectModelError("non-finite value at index 2") { try EncoderModel(manifest: manifest, weights: nonFinite) }

        var unknownKind = manifest
        unknownKind.features[0].kind = FeatureKind(rawValue: "mood")
        expectModelError("unknown kind 'mood'") { try EncoderModel(manifest: unknownKind, weights: weights) }
    }

    @Test func safetensorsRejectsTruncatedFiles() {
        let (_, weights) = ModelFactory.random(
            batchID: "b", embeddingBatchID: "e", dims: .init(audio: 2, collaborative: 2), hidden: [4], outputSize: 3)
        let data = weights.serialized()
        #expect(throws: ModelError.self) { try SafeTensors(data: data.prefix(data.count - 3)) }
        #expect(throws: ModelError.self) { try SafeTensors(data: Data([1, 2, 3])) }
        #expect((try? SafeTensors(data: data))?.tensors == weights.tensors)
    }
}
