// The fuzz targets on their seeds and on every input the fuzzer ever found a bug with (FuzzRegressions/TARGET/).
import Foundation
import Testing
import UserRepTesting

@Suite struct FuzzReplayTests {
    /// Regression inputs beside this file, per target.
    static let regressions = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("FuzzRegressions")

    @Test(arguments: FuzzTarget.allCases)
    func seedsAreAcceptedAndRegressionInputsNoLongerCrash(_ target: FuzzTarget) throws {
        let seeds = try target.seeds()
        #expect(!seeds.isEmpty)
        for seed in seeds {
            #expect(seed.withUnsafeBytes { target.run($0) }, "\(target) accepts its seed")
        }
        let folder = Self.regressions.appendingPathComponent(target.rawValue)
        let files = (try? FileManager.default.contentsOfDirectory(at: folder, includingPropertiesForKeys: nil)) ?? []
        if [.stateCodec, .manifest].contains(target) {
            #expect(!files.isEmpty, "the inputs the fuzzer found (NaN sums, a manifest without layers) are replayed from \(folder.path)")
        }
        for file in files {
            // A crash here fails the whole run; what the reader decides about the input is free.
            try Data(contentsOf: file).withUnsafeBytes { _ = target.run($0) }
        }
    }
}
