// The input rules of the parse stage, one test per rule, on plain records: no cluster needed.
import Testing
import UserRepModel
import UserRepState
@testable import UserRepPipeline

@Suite struct EventValidatorTests {
    let validator: EventValidator = {
        var tracks = TrackTable(batchID: "emb", dims: .init(audio: 2, collaborative: 1))
        tracks.upsert(trackID: Array("t1".utf8), artistID: Array("a1".utf8), embedding: [1, 2, 3])
        return EventValidator(maxRecordBytes: 200, tracks: tracks)
    }()
    let listen = #"{"user_id":"u1","track_id":"t1","timestamp_ms":1780000000000}"#
    let onboarding = #"{"user_id":"u1","timestamp_ms":1780000000000,"artist_ids":["a1"],"languages":[]}"#

    func outcome(lane: InputLane? = .listens, key: String? = "u1", value: String?) -> ParsedRecord {
        validator.parse(
            InputRecord(
                lane: lane, topic: lane == .onboarding ? "onboarding" : "listens", partition: 3, offset: 42,
                key: key.map { Array($0.utf8) }, value: value.map { Array($0.utf8) }))
    }

    func reason(_ p: ParsedRecord) -> DeadLetterReason? {
        if case .rejected(_, let r) = p { return r.reason }
        return nil
    }

    @Test func aValidListenBecomesAnEventOfItsUserInItsPartition() {
        guard case .event(let user, .listen(let time, let track, _, _)) = outcome(value: listen) else {
            Issue.record("not a listen event")
            return
        }
        #expect(user.partition == 3 && user.userID == Array("u1".utf8) && time == 1_780_000_000_000 && track == 0)
        guard case .event(_, .onboarding) = outcome(lane: .onboarding, value: onboarding) else {
            Issue.record("not an onboarding event")
            return
        }
    }

    @Test func eventsAfterTheCutoffAreLeftOutAndBadOnesStillRejected() {
        var cut = validator
        cut.untilMs = 1_780_000_000_000
        func parse(_ value: String, lane: InputLane = .listens) -> ParsedRecord {
            cut.parse(InputRecord(lane: lane, topic: "listens", partition: 0, offset: 1, key: Array("u1".utf8), value: Array(value.utf8)))
        }
        guard case .event = parse(listen) else { Issue.record("an event at the cutoff is applied"); return }
        let later = #"{"user_id":"u1","track_id":"t1","timestamp_ms":1780000000001}"#
        guard case .afterCutoff = parse(later) else { Issue.record("a listen after the cutoff is left out"); return }
        let laterPick = #"{"user_id":"u1","timestamp_ms":1780000000001,"artist_ids":["a1"],"languages":[]}"#
        guard case .afterCutoff = parse(laterPick, lane: .onboarding) else { Issue.record("an onboarding after the cutoff is left out"); return }
        let laterUnknown = #"{"user_id":"u1","track_id":"t9","timestamp_ms":1780000000001}"#
        #expect(reason(parse(laterUnknown)) == .unknownTrack, "bad input is dead-lettered whatever its time")
    }

    @Test func eventsStampedTooFarAheadOfTheirRecordAreRefused() {
        var bounded = validator
        bounded.maxAheadMs = 24 * 3_600_000
        let t: Int64 = 1_780_000_000_000
        func parse(_ lane: InputLane, recordMs: Int64?, with v: EventValidator) -> ParsedRecord {
            v.parse(
                InputRecord(
                    lane: lane, topic: "in", key: Array("u1".utf8), value: Array((lane == .listens ? listen : onboarding).utf8),
                    timestampMs: recordMs))
        }
        for lane in [InputLane.listens, .onboarding] {
            #expect(reason(parse(lane, recordMs: t - 24 * 3_600_000 - 1, with: bounded)) == .eventTimeAhead, "just over a day ahead")
            guard case .event = parse(lane, recordMs: t - 24 * 3_600_000, with: bounded) else {
                Issue.record("a day ahead is accepted")
                return
            }
            guard case .event = parse(lane, recordMs: t + 3_600_000, with: bounded) else { Issue.record("an event behind its record"); return }
            guard case .event = parse(lane, recordMs: nil, with: bounded) else { Issue.record("a record without a timestamp"); return }
            guard case .event = parse(lane, recordMs: t - 1_000 * 24 * 3_600_000, with: validator) else {
                Issue.record("no bound, no refusal")
                return
            }
        }
    }

    @Test func theKeyMustBeTheUserID() {
        #expect(reason(outcome(key: nil, value: listen)) == .keyMismatch)
        #expect(reason(outcome(key: "u2", value: listen)) == .keyMismatch)
        #expect(reason(outcome(lane: .onboarding, key: "u2", value: onboarding)) == .keyMismatch)
    }

    @Test func recordsOverTheSizeLimitAreOversizedAndTombstonesEmpty() {
        let padded = #"{"user_id":"u1","track_id":"t1","timestamp_ms":1780000000000,"pad":""# + String(repeating: "x", count: 200) + #""}"#
        #expect(reason(outcome(value: padded)) == .oversized)
        #expect(reason(outcome(value: nil)) == .emptyValue)
        #expect(reason(outcome(value: "")) == .emptyValue)
    }

    @Test func aListenOfATrackOutsideTheTableIsUnknownTrack() {
        #expect(reason(outcome(value: #"{"user_id":"u1","track_id":"t9","timestamp_ms":1780000000000}"#)) == .unknownTrack)
    }

    @Test func aRejectionKeepsTheRecordsBytesAndSource() {
        guard case .rejected(let record, _) = outcome(key: "u2", value: listen) else {
            Issue.record("not rejected")
            return
        }
        #expect(record.topic == "listens" && record.partition == 3 && record.offset == 42)
        #expect(record.key == Array("u2".utf8) && record.value == Array(listen.utf8))
    }

    @Test func recordsOfTopicsTheWorkerDoesNotReadAreForeign() {
        guard case .foreign = outcome(lane: nil, value: listen) else {
            Issue.record("not foreign")
            return
        }
    }
}
