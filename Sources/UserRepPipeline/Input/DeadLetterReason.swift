// Why an input record went to the dead-letter topic.

/// A reason code, sent in the dead-letter record's `dlq.reason` header and counted per code.
/// An extensible set: new codes can be added without breaking consumers that match on strings.
public struct DeadLetterReason: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    /// The code as sent in headers and metrics.
    public let rawValue: String

    /// Creates a reason from its code.
    public init(rawValue: String) { self.rawValue = rawValue }

    /// The value is not a JSON object.
    public static let malformedJSON = DeadLetterReason(rawValue: "malformed-json")
    /// A required field is absent.
    public static let missingField = DeadLetterReason(rawValue: "missing-field")
    /// A field has the wrong type or a value out of range.
    public static let invalidField = DeadLetterReason(rawValue: "invalid-field")
    /// The record is larger than the configured maximum.
    public static let oversized = DeadLetterReason(rawValue: "oversized")
    /// The listen names a track absent from the track table of the model's embedding batch.
    public static let unknownTrack = DeadLetterReason(rawValue: "unknown-track")
    /// The record key is absent or differs from the body's user id, so partitioning by user breaks.
    public static let keyMismatch = DeadLetterReason(rawValue: "key-mismatch")
    /// The record has no value (a tombstone) where an event was expected.
    public static let emptyValue = DeadLetterReason(rawValue: "empty-value")

    /// The event's time is further after its record's timestamp than `--max-event-time-ahead-hours`
    /// (a device clock set ahead): applied, it would age every silent user of its partition.
    public static let eventTimeAhead = DeadLetterReason(rawValue: "event-time-ahead")

    /// Whether the reason is about how a record is written, not what it says: the first sign
    /// of a producer that changed format (or of a topic of other records), when most records
    /// are refused for it (see `WorkerConfiguration.maxMalformedRatio`).
    public var isAboutForm: Bool { Self.formReasons.contains(self) }

    private static let formReasons: Set<DeadLetterReason> = [
        .malformedJSON, .missingField, .invalidField, .keyMismatch, .emptyValue, .oversized,
    ]

    public var description: String { rawValue }
}

/// A record refused with a reason and a detail for the operator.
public struct InputRejection: Error, Sendable, CustomStringConvertible {
    /// The reason code.
    public let reason: DeadLetterReason
    /// Human-readable detail, e.g. which field and why.
    public let detail: String

    /// Creates a rejection.
    public init(_ reason: DeadLetterReason, _ detail: String) {
        self.reason = reason
        self.detail = detail
    }

    public var description: String { "\(reason): \(detail)" }
}
