// Seed inputs for the fuzz targets, made from the same synthetic data the tests use.
import Foundation
import UserRepModel
import UserRepPipeline
import UserRepState

extension FuzzTarget {
    /// A few valid inputs of this target (libFuzzer mutates from them; the tests replay them).
    public func seeds() throws -> [[UInt8]] {
        var settings = SyntheticGenerator.Settings()
        settings.users = 20
        settings.tracks = 10
        var generator = SyntheticGenerator(settings: settings)
        switch self {
        case .listen:
            return (0..<5).map { generator.listen(index: $0, total: 5).json() }
        case .onboarding:
            return (0..<3).map { generator.onboarding(user: Array("u\($0)".utf8), timeMs: 1_780_000_000_000 + Int64($0)).json() }
        case .track:
            return generator.trackRecords().prefix(3).map { $0.json() }
        case .stateCodec:
            var rng = SplitMix64(seed: 3)
            return [4, 160].flatMap { width in
                var state = UserState(width: width)
                for i in 0..<40 {
                    let e = (0..<width).map { _ in rng.nextGaussian() }
                    e.withUnsafeBufferPointer {
                        state.applyListen(timeMs: 1_780_000_000_000 + Int64(i) * 7_200_000, vector: $0, country: [83, 69])
                    }
                }
                state.applyOnboarding(timeMs: 1_780_000_000_000, artists: [[97]], languages: [[101, 110]], country: nil)
                // A whole state of an earlier build, a head, and a tile's sums.
                let tile = Array(state.tiles.sums.prefix(width)).withUnsafeBytes { Array($0) }
                return [UserStateCodec.encode(state), UserStateCodec.encodeHead(state), tile]
            }
        case .safetensors, .manifest:
            let (manifest, weights) = ModelFactory.random(
                batchID: "b", embeddingBatchID: "e", dims: .init(audio: 4, collaborative: 3),
                hidden: [8], outputSize: 5, context: (["SE", "US"], ["en"]))
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("userrep-seed-\(UUID().uuidString)")
            defer { try? FileManager.default.removeItem(at: directory) }
            let url = try ModelFactory.write(manifest: manifest, weights: weights, to: directory)
            if self == .manifest { return [Array(try Data(contentsOf: url))] }
            return [Array(try Data(contentsOf: directory.appendingPathComponent(manifest.weights)))]
        }
    }
}
