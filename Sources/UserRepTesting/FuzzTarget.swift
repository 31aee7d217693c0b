// Everything that reads outside bytes, as fuzz targets: libFuzzer drives them (fuzz/run.sh), the test suite replays their regression inputs.
import Foundation
import UserRepModel
import UserRepPipeline
import UserRepState

/// One reader of untrusted bytes and the properties it must keep on any input: never crash, and
/// what it accepts must round-trip. A violated property stops the process (`fatalError`), which
/// is what a fuzzer reports.
public enum FuzzTarget: String, CaseIterable, Sendable {
    /// `ListenEvent.parse`: accepted listens re-serialize to an equal listen.
    case listen
    /// `OnboardingEvent.parse`.
    case onboarding
    /// `TrackRecord.parse` (80 + 80 dimensions) and the dimension probe.
    case track
    /// `UserStateCodec.decodeStored` of a changelog or store value (head or whole state), tile values and tile keys: accepted states re-encode to the same state.
    case stateCodec = "state-codec"
    /// `SafeTensors(data:)`: weights files.
    case safetensors
    /// `ModelManifest.decode` and the model built from it with matching random weights.
    case manifest

    /// Runs the target on one input; returns whether the reader accepted it.
    @discardableResult
    public func run(_ bytes: UnsafeRawBufferPointer) -> Bool {
        switch self {
        case .listen:
            guard let event = try? ListenEvent.parse(bytes) else { return false }
            let again = event.json().withUnsafeBytes { try? ListenEvent.parse($0) }
            if again != event { fatalError("listen does not round-trip: \(event)") }
            return true
        case .onboarding:
            return (try? OnboardingEvent.parse(bytes)) != nil
        case .track:
            _ = TrackRecord.dimensions(bytes)
            guard let record = try? TrackRecord.parse(bytes, audioDims: 80, collaborativeDims: 80) else { return false }
            let again = record.json().withUnsafeBytes { try? TrackRecord.parse($0, audioDims: 80, collaborativeDims: 80) }
            if again != record { fatalError("track record does not round-trip") }
            return true
        case .stateCodec:
            var accepted = false
            for width in [4, 160] {
                if (try? TileRecord.validate(bytes, width: width)) != nil { accepted = true }
                switch try? UserStateCodec.decodeStored(bytes, expectedWidth: width) {
                case .whole(let state):
                    let decoded = UserStateCodec.encode(state).withUnsafeBytes { try? UserStateCodec.decode($0, expectedWidth: width) }
                    if decoded != state { fatalError("state does not round-trip") }
                case .head(let head):
                    let zeros = [Float](repeating: 0, count: head.tileIDs.count * width)
                    guard let state = try? head.assemble(sums: zeros) else { fatalError("a decoded head does not assemble") }
                    let again = UserStateCodec.encodeHead(state).withUnsafeBytes { try? UserStateCodec.decodeHead($0, expectedWidth: width) }
                    if again != head { fatalError("state head does not round-trip") }
                case nil: continue
                }
                accepted = true
            }
            if (try? TileRecord.split(bytes)) == nil { accepted = true }
            return accepted
        case .safetensors:
            return (try? SafeTensors(data: Data(bytes), source: "fuzz")) != nil
        case .manifest:
            guard let manifest = try? ModelManifest.decode(Data(bytes)) else { return false }
            // Only plausible sizes get weights: the point is the manifest's checks, not allocating
            // whatever a fuzzed layer size asks for.
            guard (2...8).contains(manifest.layers.count), manifest.layers.allSatisfy({ (1...4_096).contains($0) }) else {
                return (try? EncoderModel(manifest: manifest, weights: SafeTensors())) != nil
            }
            var tensors: [String: SafeTensors.Tensor] = [:]
            for i in 0..<(manifest.layers.count - 1) {
                let n = manifest.layers[i], out = manifest.layers[i + 1]
                tensors[ModelManifest.weightTensor(i)] = .init(shape: [out, n], values: [Float](repeating: 0.01, count: out * n))
                tensors[ModelManifest.biasTensor(i)] = .init(shape: [out], values: [Float](repeating: 0, count: out))
            }
            if let norm = manifest.normalization {
                tensors[norm.mean] = .init(shape: [manifest.layers[0]], values: [Float](repeating: 0, count: manifest.layers[0]))
                tensors[norm.std] = .init(shape: [manifest.layers[0]], values: [Float](repeating: 1, count: manifest.layers[0]))
            }
            do {
                _ = try EncoderModel(manifest: manifest, weights: SafeTensors(tensors: tensors))
                return true
            } catch {
                return false
            }
        }
    }
}
