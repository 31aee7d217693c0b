// Listen and track record parsing, output encodings, track files: pure, no Kafka.
import Foundation
import Testing
import UserRepModel
import UserRepPipeline
import UserRepTesting

@Suite struct InputParsingTests {
    func parse(_ s: String) throws -> ListenEvent {
        try Array(s.utf8).withUnsafeBytes { try ListenEvent.parse($0) }
    }

    func reason(_ s: String) -> DeadLetterReason? {
        do { _ = try parse(s); return nil } catch { return (error as? InputRejection)?.reason }
    }

    @Test func validListenParsesWithOptionalFieldsAndEscapes() throws {
        let e = try parse(
            #"{"user_id":"u\u00e9\"1","track_id":"t1","timestamp_ms":1780000000000,"ms_played":1234,"country":"SE","device":null,"x":[true,false,null,{"y":-1.5e3}]}"#
        )
        #expect(String(decoding: e.userID, as: UTF8.self) == "ué\"1")
        #expect(e.timestampMs == 1_780_000_000_000 && e.msPlayed == 1234 && e.device == nil)
        #expect(e.country == Array("SE".utf8))
        let roundTrip = try parse(String(decoding: e.json(), as: UTF8.self))
        #expect(roundTrip == e)
    }

    @Test func invalidListensAreRefusedWithTheRightReason() {
        #expect(reason("") == .malformedJSON)
        #expect(reason("{") == .malformedJSON)
        #expect(reason(#"{"user_id":"u"}"#) == .missingField)
        #expect(reason(#"{"user_id":"","track_id":"t","timestamp_ms":1780000000000}"#) == .invalidField)
        #expect(reason(#"{"user_id":1,"track_id":"t","timestamp_ms":1780000000000}"#) == .invalidField)
        #expect(reason(#"{"user_id":"u","track_id":"t","timestamp_ms":1780000000000.5}"#) == .invalidField)
        #expect(reason(#"{"user_id":"u","track_id":"t","timestamp_ms":1780000000000,"ms_played":-1}"#) == .invalidField)
        #expect(
            reason("{\"user_id\":\"\(String(repeating: "u", count: 300))\",\"track_id\":\"t\",\"timestamp_ms\":1780000000000}")
                == .invalidField)
        #expect(reason(String(repeating: "[", count: 10_000)) == .malformedJSON)
        #expect(reason("{\"a\":" + String(repeating: "[", count: 10_000) + "}") == .malformedJSON, "deep nesting is bounded")
        #expect(reason("{\"user_id\":\"\u{7}\"}") != nil)
    }

    @Test func onboardingEventsRoundTripAndSkippedPicksAreValid() throws {
        let full = OnboardingEvent(
            userID: Array("u1".utf8), timestampMs: 1_780_000_000_000, artistIDs: [Array("a1".utf8), Array("a\"2".utf8)],
            languages: [Array("en".utf8)], country: Array("SE".utf8))
        let skipped = OnboardingEvent(userID: Array("u2".utf8), timestampMs: 1_780_000_000_000, artistIDs: [], languages: [])
        for e in [full, skipped] {
            #expect(try e.json().withUnsafeBytes { try OnboardingEvent.parse($0) } == e)
        }
        #expect(throws: InputRejection.self) {
            try Array("{\"user_id\":\"u\",\"timestamp_ms\":1780000000000,\"artist_ids\":[1],\"languages\":[]}".utf8).withUnsafeBytes {
                try OnboardingEvent.parse($0)
            }
        }
    }

    @Test func trackRecordsAreCheckedAgainstDimensions() throws {
        let good = TrackRecord(trackID: Array("t".utf8), artistID: Array("a".utf8), batchID: "b", audio: [1, 2], collaborative: [3])
        let bytes = good.json()
        let parsed = try bytes.withUnsafeBytes { try TrackRecord.parse($0, audioDims: 2, collaborativeDims: 1) }
        #expect(parsed == good)
        #expect { try bytes.withUnsafeBytes { try TrackRecord.parse($0, audioDims: 3, collaborativeDims: 1) } } throws: {
            guard let r = $0 as? InputRejection else { return false }
            return r.reason == .invalidField && r.detail.contains("audio must hold 3")
        }
    }

    @Test func trackFilesRoundTripInBothFormats() throws {
        var s = SyntheticGenerator.Settings()
        s.tracks = 25
        s.dims = .init(audio: 3, collaborative: 2)
        let records = SyntheticGenerator(settings: s).trackRecords()
        for format in TrackFile.Format.allCases {
            let data = TrackFile.write(records, format: format)
            #expect(TrackFile.detect(data) == format)
            #expect(try TrackFile.read(data, dims: s.dims) == records)
        }
        let binary = TrackFile.write(records, format: .binary)
        #expect(throws: InputRejection.self) { try TrackFile.read(binary.prefix(binary.count - 1), dims: s.dims) }
        #expect(throws: InputRejection.self) { try TrackFile.read(binary, dims: .init(audio: 2, collaborative: 2)) }
        let jsonl = Data("\n{\"track_id\":\"t\"}\n".utf8)
        #expect { try TrackFile.read(jsonl, dims: s.dims) } throws: { ($0 as? InputRejection)?.detail.hasPrefix("line 2:") == true }
    }

    @Test func trackEmbeddingsTooLargeToSumAreRefusedInBothFormats() throws {
        var s = SyntheticGenerator.Settings()
        s.tracks = 3
        s.dims = .init(audio: 3, collaborative: 2)
        var records = SyntheticGenerator(settings: s).trackRecords()
        records[1].collaborative[1] = -2e6
        for format in TrackFile.Format.allCases {
            #expect {
                try TrackFile.read(TrackFile.write(records, format: format), dims: s.dims)
            } throws: {
                guard let r = $0 as? InputRejection else { return false }
                return r.reason == .invalidField && r.detail.contains("outside ±")
            }
        }
        records[1].collaborative[1] = -1e6
        #expect(try TrackFile.read(TrackFile.write(records, format: .binary), dims: s.dims) == records, "the bound itself is accepted")
    }

    @Test func wireWriterMatchesSwiftProtobufByteForByte() throws {
        let full = RepresentationRecord(
            userID: "ü-1", batchID: "b1", embeddingBatchID: "e1", vector: (0..<120).map { Float($0) * 0.37 - 9 },
            eventTimeMs: 1_780_000_000_123, computeTimeMs: 1_790_000_000_456, updateSequence: 300, trigger: .listen)
        let empty = RepresentationRecord(
            userID: "", batchID: "", embeddingBatchID: "", vector: [], eventTimeMs: -5, computeTimeMs: 0, updateSequence: 0,
            trigger: .backfill)
        for r in [full, empty] {
            var out: [UInt8] = [7, 7]
            r.vector.withUnsafeBufferPointer {
                RepresentationWireWriter.write(
                    userID: Array(r.userID.utf8), batchID: Array(r.batchID.utf8), embeddingBatchID: Array(r.embeddingBatchID.utf8),
                    vector: $0, eventTimeMs: r.eventTimeMs, computeTimeMs: r.computeTimeMs,
                    updateSequence: r.updateSequence, trigger: r.trigger, into: &out)
            }
            #expect(out == (try r.encoded(.protobuf)))
        }
    }

    @Test func representationRecordsRoundTripInBothFormats() throws {
        let r = RepresentationRecord(
            userID: "u\"1", batchID: "b1", embeddingBatchID: "e1", vector: [0.5, -1.25, 3e-5],
            eventTimeMs: 1_780_000_000_000, computeTimeMs: 1_790_000_000_000, updateSequence: 42, trigger: .backfill)
        for format in OutputFormat.allCases {
            let bytes = try r.encoded(format)
            #expect(try bytes.withUnsafeBytes { try RepresentationRecord.decode($0, format: format) } == r)
        }
    }
}
