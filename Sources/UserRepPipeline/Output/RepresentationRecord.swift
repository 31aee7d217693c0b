// A user representation as published on `user-representations` (schemas/user_representation.proto).
import Foundation
import SwiftProtobuf

/// What caused a vector to be computed.
public enum RepresentationTrigger: String, Sendable, CaseIterable {
    /// Listens were applied.
    case listen
    /// An onboarding event was applied.
    case onboarding
    /// Unchanged state re-encoded by another batch.
    case batchReencode = "batch_reencode"
    /// Final vector of a backfill.
    case backfill
    /// The user's windows changed with event time (a tile left a horizon) while they were silent:
    /// the unchanged state encoded as of the partition's event-time watermark.
    case windowExpiry = "window_expiry"

    var proto: Userrep_V1_Trigger {
        switch self {
        case .listen: .listen
        case .onboarding: .onboarding
        case .batchReencode: .batchReencode
        case .backfill: .backfill
        case .windowExpiry: .windowExpiry
        }
    }

    init(proto: Userrep_V1_Trigger) {
        switch proto {
        case .onboarding: self = .onboarding
        case .batchReencode: self = .batchReencode
        case .backfill: self = .backfill
        case .windowExpiry: self = .windowExpiry
        default: self = .listen
        }
    }
}

/// The value format of output records.
public enum OutputFormat: String, Sendable, CaseIterable {
    /// Protobuf `userrep.v1.UserRepresentation` (default).
    case protobuf
    /// One JSON object per record with the same field names.
    case json
}

/// One user's representation from one model batch.
public struct RepresentationRecord: Sendable, Equatable {
    /// User id.
    public var userID: String
    /// Model batch that produced the vector.
    public var batchID: String
    /// Track-embedding batch behind the vector.
    public var embeddingBatchID: String
    /// The representation.
    public var vector: [Float]
    /// Event time of the newest event reflected.
    public var eventTimeMs: Int64
    /// Wall-clock compute time.
    public var computeTimeMs: Int64
    /// Events applied to the user when computed; drop records with a sequence you have already seen.
    public var updateSequence: UInt64
    /// What triggered it.
    public var trigger: RepresentationTrigger

    /// Creates a record.
    public init(
        userID: String, batchID: String, embeddingBatchID: String, vector: [Float], eventTimeMs: Int64,
        computeTimeMs: Int64, updateSequence: UInt64, trigger: RepresentationTrigger
    ) {
        self.userID = userID
        self.batchID = batchID
        self.embeddingBatchID = embeddingBatchID
        self.vector = vector
        self.eventTimeMs = eventTimeMs
        self.computeTimeMs = computeTimeMs
        self.updateSequence = updateSequence
        self.trigger = trigger
    }

    /// Name of the header carrying the batch id on every output record.
    public static let batchHeader = "batch-id"

    /// Serializes the record in `format`.
    public func encoded(_ format: OutputFormat) throws -> [UInt8] {
        switch format {
        case .protobuf:
            var m = Userrep_V1_UserRepresentation()
            m.userID = userID
            m.batchID = batchID
            m.embeddingBatchID = embeddingBatchID
            m.vector = vector
            m.eventTimeMs = eventTimeMs
            m.computeTimeMs = computeTimeMs
            m.updateSequence = updateSequence
            m.trigger = trigger.proto
            return try m.serializedBytes()
        case .json:
            let floats = vector.map { "\($0)" }.joined(separator: ",")
            return Array(
                "{\"user_id\":\(JSONText.quote(userID)),\"batch_id\":\(JSONText.quote(batchID)),\"embedding_batch_id\":\(JSONText.quote(embeddingBatchID)),\"vector\":[\(floats)],\"event_time_ms\":\(eventTimeMs),\"compute_time_ms\":\(computeTimeMs),\"update_sequence\":\(updateSequence),\"trigger\":\"\(trigger.rawValue)\"}"
                    .utf8)
        }
    }

    /// Decodes a record in `format`.
    public static func decode(_ bytes: UnsafeRawBufferPointer, format: OutputFormat) throws -> RepresentationRecord {
        switch format {
        case .protobuf:
            let m = try Userrep_V1_UserRepresentation(serializedBytes: Array(bytes))
            return RepresentationRecord(
                userID: m.userID, batchID: m.batchID, embeddingBatchID: m.embeddingBatchID,
                vector: m.vector, eventTimeMs: m.eventTimeMs, computeTimeMs: m.computeTimeMs,
                updateSequence: m.updateSequence, trigger: RepresentationTrigger(proto: m.trigger))
        case .json:
            var r = RepresentationRecord(
                userID: "", batchID: "", embeddingBatchID: "", vector: [], eventTimeMs: 0, computeTimeMs: 0, updateSequence: 0,
                trigger: .listen)
            var reader = JSONReader(bytes)
            try reader.readObject { key, rd in
                switch String(decoding: key, as: UTF8.self) {
                case "user_id": r.userID = String(decoding: try rd.readString(), as: UTF8.self)
                case "batch_id": r.batchID = String(decoding: try rd.readString(), as: UTF8.self)
                case "embedding_batch_id": r.embeddingBatchID = String(decoding: try rd.readString(), as: UTF8.self)
                case "vector": try rd.readFloatArray(maxCount: 1 << 16, into: &r.vector)
                case "event_time_ms": r.eventTimeMs = try rd.readInt64()
                case "compute_time_ms": r.computeTimeMs = try rd.readInt64()
                case "update_sequence": r.updateSequence = UInt64(max(0, try rd.readInt64()))
                case "trigger": r.trigger = RepresentationTrigger(rawValue: String(decoding: try rd.readString(), as: UTF8.self)) ?? .listen
                default: try rd.skipValue()
                }
            }
            return r
        }
    }

    /// One line of text for `userrep subscribe`.
    public func summary(dimensions: Int = 4) -> String {
        let head = vector.prefix(dimensions).map { String(format: "%+.3f", $0) }.joined(separator: " ")
        return
            "\(userID) batch=\(batchID) seq=\(updateSequence) trigger=\(trigger.rawValue) event_time=\(eventTimeMs) dims=\(vector.count) [\(head)\(vector.count > dimensions ? " …" : "")]"
    }
}
