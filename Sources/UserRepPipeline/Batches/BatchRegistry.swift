// The batch registry (paper 4.4): which model batches are live, as one versioned JSON document.
import Foundation

/// One model batch as the registry knows it (`schemas/batch-registry.md`).
public struct BatchEntry: Codable, Sendable, Equatable {
    /// Where a batch is in its life: published as current or legacy, or no longer.
    public enum State: String, Codable, Sendable {
        /// The batch downstream models should move to; at most one.
        case current
        /// The previous current batch, still published until downstream has retrained; at most one.
        case legacy
        /// No longer published; its output topic has been emptied by tombstones.
        case retired
        /// Not published yet: the workers of its embedding batch build their state with its layout
        /// (a new embedding batch's rotation), until it is promoted.
        case staged
    }

    /// Model batch id (the manifest's `batch_id`).
    public var batchID: String
    /// Track-embedding batch the model reads (the manifest's `embedding_batch_id`).
    public var embeddingBatchID: String
    /// Path of the model's manifest, as every worker of the group sees it.
    public var model: String
    /// SHA-256 of the weights file, checked by every worker before it publishes the batch.
    public var weightsSHA256: String
    /// Current, legacy or retired.
    public var state: State
    /// When the batch entered this state (ms since the epoch).
    public var sinceMs: Int64
    /// The registry version that promoted it: its batch jobs' progress records carry it, so a
    /// batch promoted again (after a retire) is re-encoded again.
    public var promotedVersion: Int

    /// Creates an entry.
    public init(
        batchID: String, embeddingBatchID: String, model: String, weightsSHA256: String, state: State = .current, sinceMs: Int64 = 0,
        promotedVersion: Int = 0
    ) {
        self.promotedVersion = promotedVersion
        self.batchID = batchID
        self.embeddingBatchID = embeddingBatchID
        self.model = model
        self.weightsSHA256 = weightsSHA256
        self.state = state
        self.sinceMs = sinceMs
    }

    enum CodingKeys: String, CodingKey {
        case batchID = "batch_id", embeddingBatchID = "embedding_batch_id", model, weightsSHA256 = "weights_sha256", state
        case sinceMs = "since_ms", promotedVersion = "promoted_version"
    }
}

/// Why a registry change was refused.
public struct BatchRegistryError: Error, CustomStringConvertible, Sendable {
    /// What was wrong, and what to do.
    public let description: String
    init(_ description: String) { self.description = description }
}

/// The registry document: every batch's entry, and a version that grows by one with each change.
/// Pure: `BatchRegistryTopic` reads and writes it.
public struct BatchRegistry: Codable, Sendable, Equatable {
    /// Incremented by every change; workers apply a document only if it is newer than theirs.
    public var version: Int
    /// Every batch ever promoted (retired ones too, newest last).
    public var batches: [BatchEntry]

    /// An empty registry (version 0).
    public init(version: Int = 0, batches: [BatchEntry] = []) {
        self.version = version
        self.batches = batches
    }

    /// The current batch, if any.
    public var current: BatchEntry? { batches.first { $0.state == .current } }
    /// The legacy batch, if any.
    public var legacy: BatchEntry? { batches.first { $0.state == .legacy } }
    /// The batches workers publish: current first, then legacy.
    public var live: [BatchEntry] { [current, legacy].compactMap { $0 } }
    /// Batches staged for promotion.
    public var staged: [BatchEntry] { batches.filter { $0.state == .staged } }

    /// Adds `entry` as staged: not published, but workers of its embedding batch (typically a new
    /// one) start with its layout and build their state, so it can be promoted once they are
    /// caught up.
    public mutating func stage(_ entry: BatchEntry, atMs now: Int64) throws {
        if let held = batches.first(where: { $0.batchID == entry.batchID }), held.state == .current || held.state == .legacy {
            throw BatchRegistryError("batch '\(entry.batchID)' is \(held.state.rawValue) already")
        }
        batches.removeAll { $0.batchID == entry.batchID }
        var staged = entry
        staged.state = .staged
        staged.sinceMs = now
        staged.promotedVersion = 0
        batches.append(staged)
        version += 1
    }

    /// The README section that explains rotating to a new embedding batch.
    public static let embeddingRunbook =
        "README § Batches › Rotating to a new embedding batch, step 2 (backfill a state of the new embedding batch)"

    /// Makes `entry` current: the current batch becomes legacy and the legacy batch is retired.
    /// A model of another embedding batch than the current one is refused unless
    /// `newEmbeddingBatch` (the runbook's last step, once a state of that batch exists).
    public mutating func promote(_ entry: BatchEntry, atMs now: Int64, newEmbeddingBatch: Bool = false) throws {
        if let current, current.batchID == entry.batchID {
            throw BatchRegistryError("batch '\(entry.batchID)' is already current")
        }
        if let current, current.embeddingBatchID != entry.embeddingBatchID, !newEmbeddingBatch {
            throw BatchRegistryError(
                "model batch '\(entry.batchID)' reads embedding batch '\(entry.embeddingBatchID)', but the workers' state is built from '\(current.embeddingBatchID)' (current batch '\(current.batchID)'); its vectors would be computed from the wrong aggregates. See \(Self.embeddingRunbook), then promote with --new-embedding-batch"
            )
        }
        if let old = batches.firstIndex(where: { $0.batchID == entry.batchID }) { batches.remove(at: old) }
        for i in batches.indices {
            switch batches[i].state {
            case .current: batches[i].state = .legacy
            case .legacy: batches[i].state = .retired
            case .retired, .staged: continue
            }
            batches[i].sinceMs = now
        }
        var promoted = entry
        promoted.state = .current
        promoted.sinceMs = now
        version += 1
        promoted.promotedVersion = version
        batches.append(promoted)
    }

    /// Retires the legacy batch (or a staged one): workers stop publishing it and tombstone its
    /// output. The current batch cannot be retired: promote another one first (which makes it legacy).
    public mutating func retire(_ batchID: String, atMs now: Int64) throws {
        guard let i = batches.firstIndex(where: { $0.batchID == batchID }) else {
            throw BatchRegistryError("no batch '\(batchID)' in the registry (batches: \(batches.map(\.batchID).joined(separator: ", ")))")
        }
        switch batches[i].state {
        case .retired: throw BatchRegistryError("batch '\(batchID)' is already retired")
        case .current:
            throw BatchRegistryError(
                "batch '\(batchID)' is current; promote another batch first (then it is legacy, and may be retired)")
        case .legacy, .staged:
            batches[i].state = .retired
            batches[i].sinceMs = now
            version += 1
        }
    }

    /// The document's JSON bytes (sorted keys, so equal registries are equal bytes).
    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try encoder.encode(self)
    }

    /// Parses a document.
    public static func decode(_ bytes: some Collection<UInt8>) throws -> BatchRegistry {
        try JSONDecoder().decode(BatchRegistry.self, from: Data(bytes))
    }
}
