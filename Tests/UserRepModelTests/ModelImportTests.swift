// Weights trained elsewhere: a PyTorch nn.Sequential saved by Python's safetensors package (a
// committed fixture, Tests/UserRepModelTests/Fixtures) imported with a preset layout.
import Foundation
import Testing
@testable import UserRepModel

@Suite struct ModelImportTests {
    let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
        "Fixtures/pytorch-sequential.safetensors")
    let dims = ModelManifest.EmbeddingDims(audio: 2, collaborative: 2)

    @Test func aPyTorchSequentialLoadsUnderItsOwnTensorNames() throws {
        let weights = try SafeTensors(contentsOf: fixture)
        let layers = try ModelImport.layerTensors(weights, prefixes: nil)
        #expect(layers.map(\.weight) == ["layers.0.weight", "layers.2.weight"], "found by name, in index order")
        let manifest = try ModelImport.manifest(
            weights: weights, weightsFile: "pytorch-sequential.safetensors", layers: layers, batchID: "pt1", embeddingBatchID: "e",
            dims: dims, preset: .listening, countries: [], languages: [], features: nil)
        #expect(manifest.layers == [15, 8, 4] && manifest.tensors?.count == 2)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("import-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.copyItem(at: fixture, to: dir.appendingPathComponent("pytorch-sequential.safetensors"))
        try manifest.encoded().write(to: dir.appendingPathComponent("manifest.json"))
        let model = try EncoderModel.load(manifestURL: dir.appendingPathComponent("manifest.json"))
        var x = (0..<15).map { Float($0) / 10 - 0.7 }
        let y = model.encode(rows: 1, input: &x)
        // numpy's float64 forward pass of the same file (Fixtures' generator script, run once).
        let expected = [-0.5336447312937824, -0.09738113200091902, 0.44847710803456625, -0.6408609786241559]
        #expect(zip(y, expected).allSatisfy { abs(Double($0) - $1) <= 1e-5 }, "\(y)")
    }

    @Test func wrongNamesAndWidthsAreRefusedClearly() throws {
        let weights = try SafeTensors(contentsOf: fixture)
        do { _ = try ModelImport.layerTensors(weights, prefixes: ["encoder.0"]); Issue.record("missing tensors") } catch {
            #expect("\(error)".contains("no tensors encoder.0.weight"))
        }
        let layers = try ModelImport.layerTensors(weights, prefixes: ["layers.0", "layers.2"])
        do {
            _ = try ModelImport.manifest(
                weights: weights, weightsFile: "w", layers: layers, batchID: "b", embeddingBatchID: "e",
                dims: .init(audio: 80, collaborative: 80),
                preset: .listening, countries: [], languages: [], features: nil)
            Issue.record("width mismatch")
        } catch { #expect("\(error)".contains("take 15 inputs")) }
        do {
            _ = try ModelImport.manifest(
                weights: weights, weightsFile: "w", layers: [layers[1], layers[0]], batchID: "b", embeddingBatchID: "e", dims: dims,
                preset: .listening, countries: [], languages: [], features: nil)
            Issue.record("unchained layers")
        } catch { #expect("\(error)".contains("takes 15 inputs but the layer before gives 4")) }
    }

    @Test func imputationValuesAreTheMeansOfExportedRows() throws {
        let groups = ModelManifest.listeningLayout(dims: dims)
        let (base, _) = ModelFactory.random(batchID: "b", embeddingBatchID: "e", dims: dims)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("impute-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("f.safetensors")
        let writer = try FeatureFile.Writer(
            url: url, rows: 2, inputSize: 15, idBytes: 2, metadata: ["manifest": String(decoding: try base.encoded(), as: UTF8.self)])
        let rows: [[Float]] = [(0..<15).map { Float($0) }, (0..<15).map { Float($0) + 2 }]
        for (i, r) in rows.enumerated() { try r.withUnsafeBufferPointer { try writer.append(userID: [UInt8(48 + i)], row: $0) } }
        try writer.finish()
        let imputed = ModelImport.imputationMeans(groups, try FeatureFile.Mapped(url: url))
        for g in imputed where g.imputation != nil {
            #expect(g.imputation == (0..<g.size).map { Float(g.offset + $0) + 1 }, "\(g.name)")
        }
    }
}
