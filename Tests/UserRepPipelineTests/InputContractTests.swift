// Each kind of bad input gets the one reason schemas/dead-letters.md gives it; valid input is never refused.
import Foundation
import Testing
import UserRepPipeline

@Suite struct InputContractTests {
    let listen = #"{"user_id":"u1","track_id":"t1","timestamp_ms":1780000000000,"country":"SE"}"#
    let track = #"{"track_id":"t1","artist_id":"a1","batch_id":"b","audio":[1,2],"collaborative":[3]}"#

    func listenReason(_ s: String) -> DeadLetterReason? {
        do { _ = try Array(s.utf8).withUnsafeBytes { try ListenEvent.parse($0) }; return nil } catch {
            return (error as? InputRejection)?.reason
        }
    }

    func trackReason(_ s: String) -> DeadLetterReason? {
        do {
            _ = try Array(s.utf8).withUnsafeBytes { try TrackRecord.parse($0, audioDims: 2, collaborativeDims: 1) }
            return nil
        } catch { return (error as? InputRejection)?.reason }
    }

    @Test func everyTruncationOfAValidRecordIsMalformedJSON() {
        for n in 0..<listen.utf8.count {
            let cut = String(decoding: Array(listen.utf8.prefix(n)), as: UTF8.self)
            #expect(listenReason(cut) == .malformedJSON, "listen cut at byte \(n): \(cut)")
        }
        for n in 0..<track.utf8.count {
            let cut = String(decoding: Array(track.utf8.prefix(n)), as: UTF8.self)
            #expect(trackReason(cut) == .malformedJSON, "track cut at byte \(n): \(cut)")
        }
    }

    @Test func syntaxErrorsInsideKnownFieldsAreMalformedJSONNotInvalidField() {
        #expect(listenReason(#"{"user_id":"u1","track_id":"t1","timestamp_ms":1780000000000,}"#) == .malformedJSON, "trailing comma")
        #expect(listenReason(#"{"user_id":"u1","track_id":"t1","timestamp_ms":NaN}"#) == .malformedJSON, "NaN is not JSON")
        #expect(listenReason(#"{"user_id":"u1","track_id":"t1" "timestamp_ms":1}"#) == .malformedJSON)
        #expect(trackReason(#"{"track_id":"t1","artist_id":"a1","batch_id":"b","audio":[1,2,],"collaborative":[3]}"#) == .malformedJSON)
        // Well-formed, wrong type or range: invalid-field.
        #expect(listenReason(#"{"user_id":"u1","track_id":"t1","timestamp_ms":"yesterday"}"#) == .invalidField)
        #expect(trackReason(#"{"track_id":"t1","artist_id":"a1","batch_id":"b","audio":[1,2,3],"collaborative":[3]}"#) == .invalidField)
    }

    @Test func anEmptyIdIsInvalidFieldOnListensAndTracksAlike() {
        #expect(listenReason(#"{"user_id":"u1","track_id":"","timestamp_ms":1780000000000}"#) == .invalidField)
        #expect(trackReason(#"{"track_id":"","artist_id":"a1","batch_id":"b","audio":[1,2],"collaborative":[3]}"#) == .invalidField)
        #expect(listenReason(#"{"user_id":"u1","timestamp_ms":1780000000000}"#) == .missingField)
        #expect(trackReason(#"{"artist_id":"a1","batch_id":"b","audio":[1,2],"collaborative":[3]}"#) == .missingField)
    }

    @Test func unknownFieldsAreIgnoredWhateverTheyHold() {
        let deep = String(repeating: "[", count: 200) + String(repeating: "]", count: 200)
        let deepObjects = String(repeating: "{\"k\":", count: 100) + "1" + String(repeating: "}", count: 100)
        for extra in ["1e400", "-1e400", deep, deepObjects, #""\ud83d\ude00""#, "[1,{\"a\":[true,false,null]},\"x\"]"] {
            let record = #"{"user_id":"u1","extra":"# + extra + #","track_id":"t1","timestamp_ms":1780000000000}"#
            #expect(listenReason(record) == nil, "unknown field holding \(extra.prefix(40))")
        }
    }

    @Test func aByteOrderMarkIsIgnoredAndIntegralNumbersAreIntegers() throws {
        #expect(listenReason("\u{FEFF}" + listen) == nil, "RFC 8259 lets a parser ignore a UTF-8 byte-order mark")
        let e = try Array(#"{"user_id":"u1","track_id":"t1","timestamp_ms":1.78e12,"ms_played":5.0}"#.utf8).withUnsafeBytes {
            try ListenEvent.parse($0)
        }
        #expect(e.timestampMs == 1_780_000_000_000 && e.msPlayed == 5)
        #expect(listenReason(#"{"user_id":"u1","track_id":"t1","timestamp_ms":1.7800000000005e12}"#) == .invalidField, "not an integer")
        #expect(listenReason(#"{"user_id":"u1","track_id":"t1","timestamp_ms":1e300}"#) == .invalidField, "out of range")
    }
}
