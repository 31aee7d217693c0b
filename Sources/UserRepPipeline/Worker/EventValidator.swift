// The parse stage of a cycle: each input record checked and turned into an event (pure; no I/O).
import Foundation
import UserRepKafka
import UserRepModel
import UserRepState

/// What the parse stage made of one input record.
enum ParsedRecord: Sendable {
    /// A valid event of `user`.
    case event(UserKey, PendingUpdates.Event)
    /// A record for the dead-letter topic.
    case rejected(DeadLetterRecord, InputRejection)
    /// A valid event later than the event-time cutoff (`backfill --until`): read, not applied.
    case afterCutoff
    /// A valid event at or before the hand-off time of a state seeded from a replay (`backfill
    /// --seed-group`): the state holds it already; read, not applied.
    case beforeHandOff
    /// A record of a topic the worker does not read (never expected; skipped).
    case foreign
}

/// Checks input records against the size limit, the key rule and the track table, and parses them.
struct EventValidator: Sendable {
    /// Records larger than this are rejected.
    let maxRecordBytes: Int
    /// Tracks a listen may name.
    let tracks: TrackTable
    /// Events later than this event time (ms) are left out (`backfill --until`); nil: none are.
    var untilMs: Int64? = nil
    /// Events at or before this event time (ms) are left out as already in a seeded state; nil: none are.
    var handOffMs: Int64? = nil
    /// Events whose time is more than this many ms after their record's timestamp are refused
    /// (`event-time-ahead`): a device clock set ahead, which would move the partition's watermark
    /// and age every silent user there. nil: no bound (nor for records without a timestamp).
    var maxAheadMs: Int64? = nil

    /// Parses every record of `records` on up to `threads` threads, `chunk` records per task;
    /// element `i` is record `i`'s outcome.
    func parse(_ records: KafkaRecordsView, threads: Int, chunk: Int) -> [ParsedRecord] {
        var parsed = [ParsedRecord](repeating: .foreign, count: records.count)
        parsed.withUnsafeMutableBufferPointer { all in
            let out = DisjointWrites(all)
            ParallelLoop.forEachChunk(count: records.count, chunk: chunk, threads: threads) { _, range in
                for i in range { out.buffer[i] = parse(records[i]) }
            }
        }
        return parsed
    }

    /// Parses one record: listens are topic index 0, onboarding events index 1.
    func parse(_ m: some ConsumedRecord) -> ParsedRecord {
        guard let lane = m.lane else { return .foreign }
        do {
            let (user, event) = lane == .listens ? try validListen(m) : try validOnboarding(m)
            try checkNotAhead(event.timeMs, of: m)
            if let untilMs, event.timeMs > untilMs { return .afterCutoff }
            if let handOffMs, event.timeMs <= handOffMs { return .beforeHandOff }
            return .event(user, event)
        } catch {
            return .rejected(DeadLetterRecord(message: m), error)
        }
    }

    /// The value of an event record, within the size limit.
    private func eventValue(_ m: some ConsumedRecord) throws(InputRejection) -> UnsafeRawBufferPointer {
        guard let value = m.value, value.count > 0 else { throw InputRejection(.emptyValue, "record has no value") }
        guard value.count <= maxRecordBytes else {
            throw InputRejection(.oversized, "value of \(value.count) bytes exceeds the limit of \(maxRecordBytes)")
        }
        return value
    }

    /// Refuses an event time more than `maxAheadMs` after the record's timestamp.
    private func checkNotAhead(_ timeMs: Int64, of m: some ConsumedRecord) throws(InputRejection) {
        guard let maxAheadMs, let recordMs = m.timestampMs, recordMs > 0, timeMs - recordMs > maxAheadMs else { return }
        let hours = String(format: "%.1f", Double(timeMs - recordMs) / 3_600_000)
        throw InputRejection(
            .eventTimeAhead,
            "timestamp_ms \(timeMs) is \(hours) h after the record's timestamp \(recordMs) (at most \(maxAheadMs / 3_600_000) h: --max-event-time-ahead-hours)"
        )
    }

    /// Requires the record key to be the body's user id (events are partitioned by user).
    private func checkKey(_ m: some ConsumedRecord, userID: [UInt8]) throws(InputRejection) {
        guard let key = m.key, key.elementsEqual(userID) else {
            throw InputRejection(
                .keyMismatch, m.key == nil ? "record has no key; key events by user_id" : "record key differs from user_id")
        }
    }

    /// Validates one listen record and resolves its user key and track.
    private func validListen(_ m: some ConsumedRecord) throws(InputRejection) -> (UserKey, PendingUpdates.Event) {
        let event = try ListenEvent.parse(try eventValue(m))
        try checkKey(m, userID: event.userID)
        guard let track = tracks.slot(of: event.trackID) else {
            throw InputRejection(
                .unknownTrack, "track \(String(decoding: event.trackID, as: UTF8.self)) is not in embedding batch \(tracks.batchID)")
        }
        return (
            UserKey(partition: m.partition, userID: event.userID),
            .listen(timeMs: event.timestampMs, track: track, device: event.device.map(DeviceClass.init(name:)), country: event.country)
        )
    }

    /// Validates one onboarding record.
    private func validOnboarding(_ m: some ConsumedRecord) throws(InputRejection) -> (UserKey, PendingUpdates.Event) {
        let event = try OnboardingEvent.parse(try eventValue(m))
        try checkKey(m, userID: event.userID)
        return (UserKey(partition: m.partition, userID: event.userID), .onboarding(event))
    }
}
