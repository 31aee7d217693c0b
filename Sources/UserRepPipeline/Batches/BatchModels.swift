// Loads the models a registry names, checking each against its entry before a worker publishes it.
import Foundation
import UserRepModel

/// Loads and checks registry batches' models (and remembers them, so a registry change reloads
/// only the batches that changed).
public struct BatchModels {
    private var loaded: [String: EncoderModel] = [:]

    /// An empty cache.
    public init() {}

    /// The model of `entry`: its manifest must name the entry's batch and embedding batch, and its
    /// weights file must have the entry's SHA-256.
    public mutating func model(for entry: BatchEntry) throws -> EncoderModel {
        let cacheKey = "\(entry.batchID)/\(entry.weightsSHA256)/\(entry.model)"
        if let model = loaded[cacheKey] { return model }
        let model = try Self.load(entry)
        loaded[cacheKey] = model
        return model
    }

    /// Loads and checks `entry`'s model without caching it.
    public static func load(_ entry: BatchEntry) throws -> EncoderModel {
        let url = URL(fileURLWithPath: entry.model)
        let manifest: ModelManifest
        do { manifest = try ModelManifest.load(from: url) } catch {
            throw WorkerError("cannot read the model of batch '\(entry.batchID)' at \(entry.model) (from the batch registry): \(error)")
        }
        guard manifest.batchId == entry.batchID, manifest.embeddingBatchId == entry.embeddingBatchID else {
            throw WorkerError(
                "the model at \(entry.model) is batch '\(manifest.batchId)' of embedding batch '\(manifest.embeddingBatchId)', but the registry says '\(entry.batchID)' of '\(entry.embeddingBatchID)'; the file was replaced after promotion: restore it or promote it again"
            )
        }
        let weights = url.deletingLastPathComponent().appendingPathComponent(manifest.weights)
        let actual = try SHA256.hex(fileAt: weights)
        guard actual == entry.weightsSHA256 else {
            throw WorkerError(
                "the weights of batch '\(entry.batchID)' (\(weights.path)) have SHA-256 \(actual), but the registry says \(entry.weightsSHA256); the file is not the one promoted: restore it, or promote the new file (`userrep batches promote --model \(entry.model)`)"
            )
        }
        return try EncoderModel.load(manifestURL: url)
    }

    /// The registry entry for the model at `manifestPath` (state `current`, as `promote` records it).
    public static func entry(forModelAt manifestPath: String) throws -> BatchEntry {
        let url = URL(fileURLWithPath: manifestPath).standardizedFileURL
        let manifest = try ModelManifest.load(from: url)
        // Loading it checks that the weights fit the manifest before anyone is told to use it.
        _ = try EncoderModel.load(manifestURL: url)
        let sha = try SHA256.hex(fileAt: url.deletingLastPathComponent().appendingPathComponent(manifest.weights))
        return BatchEntry(batchID: manifest.batchId, embeddingBatchID: manifest.embeddingBatchId, model: url.path, weightsSHA256: sha)
    }
}
