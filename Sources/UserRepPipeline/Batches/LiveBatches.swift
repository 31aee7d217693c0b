// The model batches a worker publishes each cycle: one fixed model, or the registry's live batches.
import Foundation
import UserRepKafka
import UserRepModel

/// Where a worker's models come from.
public enum ModelSource {
    /// One model, published to the output topic (`--model`).
    case fixed(EncoderModel)
    /// The live batches of the registry topic, each published to its own topic
    /// (`TopicNames.output(forBatch:)`), followed without a restart. `embeddingBatchID` pins the
    /// state's embedding batch (nil: the one of the existing state, else the current batch's).
    case registry(embeddingBatchID: String? = nil)
}

/// One batch a worker publishes: its registry entry (nil for a fixed model) and its publisher.
struct LiveBatch {
    let entry: BatchEntry?
    let model: EncoderModel
    let publisher: RepresentationPublisher
    let topic: String
    var batchID: String { model.batchID }
}

/// The batches a worker publishes, all of one embedding batch (the state's), current first.
final class LiveBatches {
    private(set) var batches: [LiveBatch]
    /// The embedding batch of the worker's state; every batch published reads it.
    let embeddingBatchID: String
    let dims: ModelManifest.EmbeddingDims
    let listenWidth: Int
    private let producer: KafkaProducer
    private let format: OutputFormat
    private let threads: Int

    /// A worker's batches, `first` (possibly none yet); `layout` fixes the embedding batch and the
    /// state's width.
    init(layout model: EncoderModel, first: [LiveBatch], producer: KafkaProducer, format: OutputFormat, threads: Int) throws {
        batches = first
        embeddingBatchID = model.manifest.embeddingBatchId
        dims = model.manifest.embeddingDims
        listenWidth = model.layout.listenWidth
        self.producer = producer
        self.format = format
        self.threads = threads
    }

    /// A batch publishing `model` to `topic`.
    static func batch(
        _ model: EncoderModel, entry: BatchEntry?, topic: String, producer: KafkaProducer, format: OutputFormat, threads: Int
    ) throws -> LiveBatch {
        let publisher = RepresentationPublisher(
            encoder: RepresentationBatchEncoder(model: model, threads: threads), producer: producer,
            topic: try producer.openTopic(topic), format: format)
        return LiveBatch(entry: entry, model: model, publisher: publisher, topic: topic)
    }

    /// The live batch `batchID`, if published.
    func batch(_ batchID: String) -> LiveBatch? { batches.first { $0.batchID == batchID } }

    /// Replaces the published batches with `models` (checked: same embedding batch and width as
    /// the state); throws, changing nothing, if one does not fit.
    func replace(with models: [(BatchEntry, EncoderModel)], topics: TopicNames) throws {
        var next: [LiveBatch] = []
        for (entry, model) in models {
            guard model.manifest.embeddingBatchId == embeddingBatchID, model.layout.listenWidth == listenWidth else {
                throw WorkerError(
                    "batch '\(entry.batchID)' reads embedding batch '\(model.manifest.embeddingBatchId)' (\(model.layout.listenWidth) floats per listen), but this worker's state is built from '\(embeddingBatchID)' (\(listenWidth)); see \(BatchRegistry.embeddingRunbook)"
                )
            }
            if let kept = batch(entry.batchID), kept.entry?.weightsSHA256 == entry.weightsSHA256 {
                next.append(LiveBatch(entry: entry, model: kept.model, publisher: kept.publisher, topic: kept.topic))
            } else {
                next.append(
                    try Self.batch(
                        model, entry: entry, topic: topics.output(forBatch: entry.batchID), producer: producer, format: format,
                        threads: threads))
            }
        }
        batches = next
    }
}
