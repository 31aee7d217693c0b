// Bad input goes to the dead-letter topic with a reason and its source; the worker carries on.
import Foundation
import Testing
import UserRepKafka
import UserRepPipeline
import UserRepTesting

@Suite(.serialized) struct DeadLetterTests {
    @Test func badRecordsAreDeadLetteredWithReasonAndSourceAndValidOnesProcessed() throws {
        let w = try Workload(users: 50, tracks: 40, partitions: 2, seed: 23)
        defer { w.env.cleanUp() }
        let producer = try KafkaProducer(configuration: w.env.kafka)
        let t = 1_780_000_000_000
        func listen(_ user: String, _ body: String) throws {
            try producer.produce(topic: w.env.topics.listens, key: Array(user.utf8), value: Array(body.utf8))
        }
        let bad: [(String, String, DeadLetterReason)] = [
            ("u1", "{not json", .malformedJSON),
            ("u1", "[1,2,3]", .malformedJSON),
            ("u1", "{\"user_id\":\"u1\",\"track_id\":\"t1\"}", .missingField),
            ("u1", "{\"user_id\":\"u1\",\"track_id\":\"t1\",\"timestamp_ms\":\"yesterday\"}", .invalidField),
            ("u1", "{\"user_id\":\"u1\",\"track_id\":\"t1\",\"timestamp_ms\":NaN}", .malformedJSON),
            ("u1", "{\"user_id\":\"u1\",\"track_id\":\"t1\",\"timestamp_ms\":1e308}", .invalidField),
            ("u1", "{\"user_id\":\"u1\",\"track_id\":\"t1\",\"timestamp_ms\":99999999999999999999999}", .invalidField),
            ("u1", "{\"user_id\":\"u1\",\"track_id\":\"t1\",\"timestamp_ms\":-5}", .invalidField),
            ("u1", "{\"user_id\":\"u1\",\"track_id\":\"no-such-track\",\"timestamp_ms\":\(t)}", .unknownTrack),
            ("u2", "{\"user_id\":\"u1\",\"track_id\":\"t1\",\"timestamp_ms\":\(t)}", .keyMismatch),
            (
                "u1", "{\"user_id\":\"u1\",\"track_id\":\"t1\",\"timestamp_ms\":\(t),\"pad\":\"\(String(repeating: "x", count: 70_000))\"}",
                .oversized
            ),
            ("u1", "{\"user_id\":\"u1\",\"track_id\":\"t1\",\"timestamp_ms\":\(t),\"ms_played\":[1,2]}", .invalidField),
            ("u1", "{\"user_id\":\"u1\",\"track_id\":\"t1\",\"timestamp_ms\":\(t)} trailing", .malformedJSON),
            ("u1", "\u{01}\u{02}\u{FF}garbage", .malformedJSON),
        ]
        var expectedValid = 0
        for (i, (user, body, _)) in bad.enumerated() {
            try listen(user, body)
            // Valid records between the bad ones, including unknown fields, which are ignored.
            try listen(
                "u\(i)", "{\"user_id\":\"u\(i)\",\"track_id\":\"t\(i % 40)\",\"timestamp_ms\":\(t + i),\"future_field\":{\"a\":[1,{}]}}")
            expectedValid += 1
        }
        try producer.produce(topic: w.env.topics.listens, key: Array("u3".utf8), value: nil)
        let badOnboarding: [(String, DeadLetterReason)] = [
            ("{\"user_id\":\"u7\",\"timestamp_ms\":\(t),\"languages\":[]}", .missingField),
            ("{\"user_id\":\"u7\",\"timestamp_ms\":\(t),\"artist_ids\":[],\"languages\":\"en\"}", .invalidField),
            (
                "{\"user_id\":\"u7\",\"timestamp_ms\":\(t),\"artist_ids\":[\(Array(repeating: "\"a\"", count: 101).joined(separator: ","))],\"languages\":[]}",
                .invalidField
            ),
        ]
        for (body, _) in badOnboarding {
            try producer.produce(topic: w.env.topics.onboarding, key: Array("u7".utf8), value: Array(body.utf8))
        }
        try producer.produce(
            topic: w.env.topics.onboarding, key: Array("u7".utf8),
            value: Array("{\"user_id\":\"u7\",\"timestamp_ms\":\(t),\"artist_ids\":[\"a1\"],\"languages\":[\"en\"]}".utf8))
        try producer.flush(timeoutMs: 10_000)

        let metrics = try StreamWorker(configuration: w.env.workerConfiguration(), model: w.env.model).run(until: .whenCaughtUp())
        #expect(metrics.listensApplied == expectedValid)
        #expect(metrics.onboardingsApplied == 1)
        #expect(metrics.deadLetterTotal == bad.count + 1 + badOnboarding.count)

        let dead = try readTopic(w.env.kafka, w.env.topics.deadLetters)
        #expect(dead.count == bad.count + 1 + badOnboarding.count)
        var reasons: [String: Int] = [:]
        for record in dead {
            let headers = Dictionary(record.headers.map { ($0.name, $0.stringValue) }, uniquingKeysWith: { a, _ in a })
            reasons[headers[DeadLetterRecord.Header.reason] ?? "none", default: 0] += 1
            #expect([w.env.topics.listens, w.env.topics.onboarding].contains(headers[DeadLetterRecord.Header.topic] ?? ""))
            #expect(headers[DeadLetterRecord.Header.partition].flatMap(Int32.init) != nil)
            #expect(headers[DeadLetterRecord.Header.offset].flatMap(Int64.init) != nil)
            #expect(!(headers[DeadLetterRecord.Header.detail] ?? "").isEmpty)
            if let value = record.value {
                #expect(
                    bad.contains { Array($0.1.utf8) == value } || badOnboarding.contains { Array($0.0.utf8) == value },
                    "original bytes are kept")
            }
        }
        var expected: [String: Int] = [DeadLetterReason.emptyValue.rawValue: 1]
        for (_, _, reason) in bad { expected[reason.rawValue, default: 0] += 1 }
        for (_, reason) in badOnboarding { expected[reason.rawValue, default: 0] += 1 }
        #expect(reasons == expected)
        #expect(metrics.deadLetters == expected, "dead letters are counted per reason")
    }

    @Test func trackRecordsOfAnotherBatchAreSkippedAndBadOnesDeadLettered() throws {
        let w = try Workload(users: 20, tracks: 30, partitions: 2, seed: 29)
        defer { w.env.cleanUp() }
        let producer = try KafkaProducer(configuration: w.env.kafka)
        let other = TrackRecord(
            trackID: Array("t-other".utf8), artistID: Array("a".utf8), batchID: "another-batch",
            audio: [Float](repeating: 0, count: 80), collaborative: [Float](repeating: 0, count: 80))
        try producer.produce(topic: w.env.topics.tracks, key: other.trackID, value: other.json())
        try producer.produce(
            topic: w.env.topics.tracks, key: Array("t-bad".utf8), value: Array("{\"track_id\":\"t-bad\",\"audio\":[1]}".utf8))
        try producer.produce(
            topic: w.env.topics.listens, key: Array("u1".utf8),
            value: Array("{\"user_id\":\"u1\",\"track_id\":\"t-other\",\"timestamp_ms\":1780000000000}".utf8))
        try producer.flush(timeoutMs: 10_000)
        let metrics = try StreamWorker(configuration: w.env.workerConfiguration(), model: w.env.model).run(until: .whenCaughtUp())
        #expect(metrics.tracksOtherBatch == 1)
        #expect(metrics.deadLetters[DeadLetterReason.unknownTrack.rawValue] == 1, "a track of another embedding batch is never used")
        #expect(metrics.deadLetters[DeadLetterReason.missingField.rawValue] == 1, "the malformed track record is dead-lettered")
    }
}

@Suite(.serialized) struct OversizedDeadLetterTests {
    @Test func recordsTooLargeToDeadLetterWholeAreCutAndTheirPartitionGoesOn() throws {
        var w = try Workload(users: 1, tracks: 20, partitions: 1, seed: 53)
        defer { w.env.cleanUp() }
        // A producer that may send what librdkafka's default (1,000,000) and more allows.
        let big = try KafkaProducer(configuration: w.env.kafka.overriding(["message.max.bytes": "5000000"]))
        let user = w.generator.listen(index: 0, total: 1).userID
        let sizes = [999_900, 4 << 20]
        for size in sizes {
            let head = Array("{\"user_id\":\"".utf8) + user + Array("\",\"pad\":\"".utf8)
            let value = head + [UInt8](repeating: 0x78, count: size - head.count - 2) + Array("\"}".utf8)
            try big.produce(topic: w.env.topics.listens, key: user, value: value)
        }
        try big.flush(timeoutMs: 30_000)
        // Later listens of the same partition.
        try w.produceListens(200)
        let worker = try StreamWorker(configuration: w.env.workerConfiguration(), model: w.env.model)
        let metrics = try worker.run(until: .whenCaughtUp())
        #expect(metrics.listensApplied == 200, "the listens after the large records are applied")
        #expect(metrics.deadLetters[DeadLetterReason.oversized.rawValue] == 2)
        #expect(metrics.deadLettersTruncated == 2)
        let dead = try readTopic(w.env.kafka, w.env.topics.deadLetters)
        #expect(dead.count == 2)
        for (record, size) in zip(dead, sizes) {
            let headers = Dictionary(record.headers.map { ($0.name, $0.stringValue) }, uniquingKeysWith: { a, _ in a })
            #expect(headers[DeadLetterRecord.Header.truncated] == "value")
            #expect(headers[DeadLetterRecord.Header.originalValueBytes] == String(size))
            #expect(headers[DeadLetterRecord.Header.offset] != nil, "the source offset locates the original")
            #expect(
                (record.value?.count ?? 0) + (record.key?.count ?? 0)
                    <= WorkerConfiguration(kafka: w.env.kafka, stateDirectory: "").maxDeadLetterBytes)
            #expect(record.value?.prefix(12).elementsEqual(Array("{\"user_id\":\"".utf8)) == true, "the value's first bytes are kept")
        }
    }

    /// A listen stamped years ahead of its record's timestamp (a device whose clock is wrong) is
    /// dead-lettered. Applied, it would move its partition's watermark years on, and every silent
    /// user there would be re-encoded with windows aged past all their listens.
    @Test func aListenStampedFarAheadOfItsRecordIsDeadLetteredAndAgesNoOne() throws {
        var w = try Workload(users: 60, tracks: 50, partitions: 2, seed: 67)
        defer { w.env.cleanUp() }
        try w.produceListens(600)
        let reference = try runReference(w.env)
        let first = w.listens[0]
        let ahead = ListenEvent(userID: first.userID, trackID: first.trackID, timestampMs: 4_070_908_800_000)  // 2099-01-01
        let producer = try KafkaProducer(configuration: w.env.kafka)
        try producer.produce(topic: w.env.topics.listens, key: ahead.userID, value: ahead.json())
        try producer.flush(timeoutMs: 30_000)
        let config = try w.env.workerConfiguration(stateName: "ahead", groupID: "ahead")
        let m = try w.runToEnd(config)
        #expect(m.deadLetters[DeadLetterReason.eventTimeAhead.rawValue] == 1 && m.listensApplied == 600, "\(m.deadLetters)")
        let dead = try readTopic(w.env.kafka, w.env.topics.deadLetters)
        #expect(dead.count == 1 && dead.first?.value.map(Array.init) == ahead.json())
        try expectSameStates(config.stateDirectory, as: reference.stateDirectory, model: w.env.model)
        // No vector is aged past the input's newest listen (window-expiry ones fire as of their
        // partition's watermark, which the listen stamped 2099 would have moved there).
        let newest = w.listens.map(\.timestampMs).max() ?? 0
        let aged = try latestVectors(w.env.kafka, w.env.topics.output).all.filter { $0.eventTimeMs > newest }
        #expect(aged.count == 0, "\(Set(aged.map(\.userID)).count) users have vectors as of \(Set(aged.map(\.eventTimeMs)))")
    }
}

@Suite(.serialized) struct TrackDeadLetterTests {
    @Test func badTrackRecordsAreDeadLetteredOnceAcrossRestartsAndKeysMustBeTheTrackID() throws {
        var w = try Workload(users: 10, tracks: 20, partitions: 1, seed: 73)
        defer { w.env.cleanUp() }
        let producer = try KafkaProducer(configuration: w.env.kafka)
        var misKeyed = w.generator.trackRecords()[0]
        misKeyed.trackID = Array("t-miskeyed".utf8)
        try producer.produce(topic: w.env.topics.tracks, key: Array("another-key".utf8), value: misKeyed.json())
        try producer.produce(
            topic: w.env.topics.tracks, key: Array("t-bad".utf8), value: Array("{\"track_id\":\"t-bad\",\"audio\":[1]}".utf8))
        try producer.flush(timeoutMs: 10_000)
        try w.produceListens(50)
        let producerOfListen = try KafkaProducer(configuration: w.env.kafka)
        try producerOfListen.produce(
            topic: w.env.topics.listens, key: Array("u1".utf8),
            value: Array(#"{"user_id":"u1","track_id":"t-miskeyed","timestamp_ms":1780000000000}"#.utf8))
        try producerOfListen.flush(timeoutMs: 10_000)
        for _ in 0..<3 {
            try StreamWorker(configuration: w.env.workerConfiguration(), model: w.env.model).run(until: .whenCaughtUp())
        }
        let dead = try readTopic(w.env.kafka, w.env.topics.deadLetters)
        let reasons = dead.map { r in r.headers.first { $0.name == DeadLetterRecord.Header.reason }?.stringValue ?? "" }.sorted()
        #expect(
            reasons == ["key-mismatch", "missing-field", "unknown-track"],
            "each bad track record once after three starts; the listen of the mis-keyed track is unknown")
    }

    /// A track record whose embedding holds values too large to sum (3e38: two listens make
    /// infinity) is dead-lettered, and the track keeps its earlier embedding. Taken in, a user's
    /// tile sums overflowed: the vector was NaN, and no restore could read the tile record.
    @Test func aTrackEmbeddingTooLargeToSumIsDeadLetteredAndTheTrackKeepsItsEmbedding() throws {
        var w = try Workload(users: 10, tracks: 20, partitions: 1, seed: 79)
        defer { w.env.cleanUp() }
        try w.produceListens(50)
        let producer = try KafkaProducer(configuration: w.env.kafka)
        var huge = w.generator.trackRecords()[0]
        huge.audio = huge.audio.map { _ in 3e38 }
        try producer.produce(topic: w.env.topics.tracks, key: huge.trackID, value: huge.json())
        let track = String(decoding: huge.trackID, as: UTF8.self)
        for i in 0..<2 {
            try producer.produce(
                topic: w.env.topics.listens, key: Array("u1".utf8),
                value: Array(#"{"user_id":"u1","track_id":"\#(track)","timestamp_ms":\#(1_780_000_000_000 + i)}"#.utf8))
        }
        try producer.flush(timeoutMs: 10_000)
        let m = try w.runToEnd(w.env.workerConfiguration(stateName: "first", groupID: "huge"))
        #expect(m.listensApplied == 52 && m.deadLetters[DeadLetterReason.invalidField.rawValue] == 1, "\(m.deadLetters)")
        let vectors = try latestVectors(w.env.kafka, w.env.topics.output).all
        #expect(!vectors.isEmpty && vectors.allSatisfy { $0.vector.allSatisfy(\.isFinite) }, "every vector is finite")
        // Another worker of the group, on an empty disk, restores every state from the changelog.
        let restored = try w.runToEnd(w.env.workerConfiguration(stateName: "second", groupID: "huge"))
        #expect(restored.restoredRecords > 0)
    }
}
