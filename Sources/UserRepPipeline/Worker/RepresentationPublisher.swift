// Encodes user states with the model and produces one output record per user.
import Foundation
import UserRepKafka
import UserRepModel
import UserRepState

/// The output half of a cycle: states through the encoder (in blocks, on the compute threads), then
/// one record per user to the output topic, in the configured format, tagged with the batch ids.
final class RepresentationPublisher {
    private let encoder: RepresentationBatchEncoder
    private let producer: KafkaProducer
    private let topic: KafkaOutputTopic
    private let format: OutputFormat
    private let batchIDBytes: [UInt8]
    private let embeddingBatchIDBytes: [UInt8]
    private let header: [KafkaHeader]
    private var valueBuffer: [UInt8] = []

    init(encoder: RepresentationBatchEncoder, producer: KafkaProducer, topic: KafkaOutputTopic, format: OutputFormat) {
        self.encoder = encoder
        self.producer = producer
        self.topic = topic
        self.format = format
        batchIDBytes = Array(encoder.model.batchID.utf8)
        embeddingBatchIDBytes = Array(encoder.model.manifest.embeddingBatchId.utf8)
        header = [KafkaHeader(name: RepresentationRecord.batchHeader, string: encoder.model.batchID)]
    }

    /// Encodes `states` and queues one record per user (laps `encode` and `produce`), each as of
    /// its user's newest event time or, with `asOf`, as of the time given for it.
    func publish(
        _ users: [UserKey], _ states: [UserState], triggers: [RepresentationTrigger], tracks: TrackTable,
        asOf: [Int64]? = nil, clock: inout StageClock, metrics: inout WorkerMetrics
    ) throws {
        guard !users.isEmpty else { return }
        let computeTime = StreamWorker.nowMs()
        let vectors = encoder.encodeVectors(states, tracks: tracks, asOf: asOf)
        metrics.usersEncoded += users.count
        clock.lap("encode", into: &metrics)
        let dim = encoder.model.outputSize
        try vectors.withUnsafeBufferPointer { all in
            for i in users.indices {
                let key = users[i]
                let vector = UnsafeBufferPointer(rebasing: all[(i * dim)..<((i + 1) * dim)])
                switch format {
                case .protobuf:
                    RepresentationWireWriter.write(
                        userID: key.userID, batchID: batchIDBytes, embeddingBatchID: embeddingBatchIDBytes, vector: vector,
                        eventTimeMs: asOf?[i] ?? states[i].newestEventTimeMs, computeTimeMs: computeTime,
                        updateSequence: states[i].updateSequence,
                        trigger: triggers[i], into: &valueBuffer)
                case .json:
                    valueBuffer = try RepresentationRecord(
                        userID: key.userIDString, batchID: encoder.model.batchID, embeddingBatchID: encoder.model.manifest.embeddingBatchId,
                        vector: Array(vector), eventTimeMs: asOf?[i] ?? states[i].newestEventTimeMs, computeTimeMs: computeTime,
                        updateSequence: states[i].updateSequence, trigger: triggers[i]
                    ).encoded(.json)
                }
                try key.userID.withUnsafeBytes { k in
                    try valueBuffer.withUnsafeBytes { v in
                        try producer.produce(to: topic, key: k, value: v, headers: header)
                    }
                }
            }
        }
        metrics.outputsPublished += users.count
        metrics.countOutputs(batch: encoder.model.batchID, triggers: triggers)
        clock.lap("produce", into: &metrics)
    }
}
