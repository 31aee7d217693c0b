// A track table that does not fit the model stops the worker before it commits anything; it never drains the stream.
import Foundation
import Logging
import Testing
import UserRepKafka
import UserRepModel
@testable import UserRepPipeline
import UserRepTesting

@Suite(.serialized) struct MisconfigurationTests {
    /// A model of `dims` and embedding batch `embeddingBatch` written to the workload's directory.
    func model(_ w: Workload, dims: ModelManifest.EmbeddingDims, embeddingBatch: String) throws -> EncoderModel {
        let (manifest, weights) = ModelFactory.random(
            batchID: "b-other", embeddingBatchID: embeddingBatch, dims: dims, hidden: [32], context: nil)
        let url = try ModelFactory.write(
            manifest: manifest, weights: weights, to: w.env.directory.appendingPathComponent("model-\(UUID().uuidString)"))
        return try EncoderModel.load(manifestURL: url)
    }

    /// Runs a worker that must refuse; returns its error's text after checking nothing was committed.
    func refusal(
        _ w: Workload, _ model: EncoderModel, tracksTopic: String? = nil, kafka: [String: String] = [:],
        topics: (inout TopicNames) -> Void = { _ in }
    ) throws -> String {
        var config = try w.env.workerConfiguration()
        if let tracksTopic { config.topics.tracks = tracksTopic }
        topics(&config.topics)
        config.kafka = config.kafka.overriding(kafka)
        let ready = w.env.directory.appendingPathComponent("ready").path
        config.readyFile = ready
        var message = ""
        do {
            let worker = try StreamWorker(configuration: config, model: model)
            try worker.run(until: .whenCaughtUp())
            Issue.record("the worker ran")
        } catch let error as WorkerError {
            message = error.message
        }
        #expect(!FileManager.default.fileExists(atPath: ready), "never ready")
        let committed = try committedOffsets(w.env.kafka, group: "userrep", topic: w.env.topics.listens, partitions: w.env.partitions)
        #expect(committed.isEmpty, "no offset committed: the next, correctly configured worker reads everything")
        #expect(try readTopic(w.env.kafka, w.env.topics.deadLetters).isEmpty, "nothing dead-lettered")
        return message
    }

    /// Kafka properties under which exactly-once state does not hold stop the worker before it
    /// reads or commits anything, with the property named. (With idempotence, librdkafka itself
    /// refuses acks short of all; without it, only the worker does.)
    @Test(arguments: [
        (["acks": "1"], "-X acks=1 is refused"),
        (["enable.idempotence": "false", "request.required.acks": "1"], "-X request.required.acks=1 is refused"),
        (["enable.auto.commit": "true"], "-X enable.auto.commit=true is refused"),
        (["enable.auto.commit": "1"], "-X enable.auto.commit=1 is refused"),
        (["enable.auto.commit": "T"], "-X enable.auto.commit=T is refused"),
        (["enable.idempotence": "false"], "-X enable.idempotence=false is refused"),
        (["enable.gapless.guarantee": "false"], "-X enable.gapless.guarantee=false is refused"),
    ])
    func unsafeKafkaPropertiesRefuseToStart(_ properties: [String: String], _ refusal: String) throws {
        var w = try Workload(users: 30, tracks: 40, partitions: 2, seed: 43)
        defer { w.env.cleanUp() }
        try w.produceListens(200)
        let m = try model(w, dims: w.generator.settings.dims, embeddingBatch: w.generator.settings.embeddingBatchID)
        let message = try self.refusal(w, m, kafka: properties)
        #expect(message.contains(refusal), "\(message)")
    }

    /// A topic named for two roles is refused before anything is read or written: outputs on
    /// the changelog would stop every restore, outputs or dead letters on an input would be read
    /// back as malformed events, and one topic as listens and onboarding would be read twice.
    @Test(arguments: [
        ("changelog", "output", "topic 'user-representations' is named both as the output topic (--output-topic) and as the state changelog topic (--changelog-topic)"),
        ("onboarding", "listens", "is named both as the listens topic (--listens-topic) and as the onboarding topic (--onboarding-topic)"),
        ("output", "listens", "is named both as the listens topic (--listens-topic) and as the output topic (--output-topic)"),
        ("dead-letters", "onboarding", "is named both as the onboarding topic (--onboarding-topic) and as the dead-letter topic (--dead-letter-topic)"),
    ])
    func aTopicNamedForTwoRolesRefusesToStart(_ role: String, _ sameAs: String, _ refusal: String) throws {
        var w = try Workload(users: 30, tracks: 40, partitions: 2, seed: 71)
        defer { w.env.cleanUp() }
        try w.produceListens(200)
        let message = try self.refusal(w, w.env.model) { topics in
            let name = [
                "output": topics.output, "listens": topics.listens, "onboarding": topics.onboarding,
            ][sameAs] ?? sameAs
            switch role {
            case "changelog": topics.changelog = name
            case "onboarding": topics.onboarding = name
            case "output": topics.output = name
            default: topics.deadLetters = name
            }
        }
        #expect(message.contains(refusal), "\(message)")
    }

    @Test func aTrackTableOfOtherDimensionsRefusesToStart() throws {
        var w = try Workload(users: 30, tracks: 40, partitions: 2, seed: 31)
        defer { w.env.cleanUp() }
        try w.produceListens(200)
        let m = try model(w, dims: .init(audio: 64, collaborative: 80), embeddingBatch: w.generator.settings.embeddingBatchID)
        let message = try refusal(w, m)
        #expect(message.contains("80+80") && message.contains("64+80"), "\(message)")
    }

    @Test func aTrackTableWithoutTheModelsEmbeddingBatchRefusesToStart() throws {
        var w = try Workload(users: 30, tracks: 40, partitions: 2, seed: 37)
        defer { w.env.cleanUp() }
        try w.produceListens(200)
        let m = try model(w, dims: w.generator.settings.dims, embeddingBatch: "emb-not-imported")
        let message = try refusal(w, m)
        #expect(message.contains("emb-not-imported") && message.contains(w.generator.settings.embeddingBatchID), "\(message)")
    }

    @Test func anEmptyTrackTableRefusesToStart() throws {
        var w = try Workload(users: 30, tracks: 40, partitions: 2, seed: 41)
        defer { w.env.cleanUp() }
        try w.produceListens(200)
        try w.env.createTopic("empty-tracks", partitions: 2)
        let message = try refusal(w, w.env.model, tracksTopic: "empty-tracks")
        #expect(message.contains("no track"), "\(message)")
    }

    @Test func nearlyAllListensNamingUnknownTracksStopTheWorkerBeforeCommitting() throws {
        let w = try Workload(users: 30, tracks: 40, partitions: 2, seed: 43)
        defer { w.env.cleanUp() }
        let producer = try KafkaProducer(configuration: w.env.kafka)
        for i in 0..<500 {
            let user = "u\(i % 30)"
            try producer.produce(
                topic: w.env.topics.listens, key: Array(user.utf8),
                value: Array(#"{"user_id":"\#(user)","track_id":"new-\#(i)","timestamp_ms":\#(1_780_000_000_000 + i)}"#.utf8))
        }
        try producer.flush(timeoutMs: 10_000)
        let message = try refusal(w, w.env.model)
        #expect(message.contains("500 of 500") || message.contains("of this cycle"), "\(message)")
    }

    /// Records stamped by a clock years behind make every event look ahead of its record: that is
    /// the clock, not the input, so the worker stops rather than dead-letter the stream.
    @Test func nearlyAllEventsStampedAheadOfTheirRecordsStopTheWorkerBeforeCommitting() throws {
        var w = try Workload(users: 30, tracks: 40, partitions: 2, seed: 53)
        defer { w.env.cleanUp() }
        let producer = try KafkaProducer(configuration: w.env.kafka)
        for i in 0..<500 {
            let e = w.generator.listen(index: i, total: 500)
            try producer.produce(topic: w.env.topics.listens, key: e.userID, value: e.json(), timestampMs: 1_000_000_000_000)
        }
        try producer.flush(timeoutMs: 10_000)
        let message = try refusal(w, w.env.model)
        #expect(message.contains("events of this cycle are stamped more than 24 h") && message.contains("event-time-ahead"), "\(message)")
    }

    /// Produces `count` listens whose `timestamp_ms` is in seconds (out of range: invalid-field).
    func produceListensStampedInSeconds(_ w: inout Workload, _ count: Int) throws {
        let producer = try KafkaProducer(configuration: w.env.kafka)
        for i in 0..<count {
            var e = w.generator.listen(index: i, total: count)
            e.timestampMs /= 1000
            try producer.produce(topic: w.env.topics.listens, key: e.userID, value: e.json())
        }
        try producer.flush(timeoutMs: 10_000)
    }

    /// A producer that switched to timestamps in seconds makes every listen out of range: that is
    /// a changed format, not bad input, so the worker stops rather than dead-letter the stream.
    @Test func nearlyAllEventsOfAChangedFormatStopTheWorkerBeforeCommitting() throws {
        var w = try Workload(users: 30, tracks: 40, partitions: 2, seed: 61)
        defer { w.env.cleanUp() }
        try produceListensStampedInSeconds(&w, 500)
        let message = try refusal(w, w.env.model)
        #expect(
            message.contains("events of this cycle are refused for their form") && message.contains("invalid-field")
                && message.contains("timestamp_ms"), "\(message)")
    }

    /// Listens produced as Java clients do (murmur2) and onboarding events as librdkafka does
    /// (CRC32) put a user's events in different partitions: the worker stops before committing;
    /// with one partitioner for both, it runs.
    @Test(arguments: [("murmur2_random", true), ("consistent_random", false)])
    func inputTopicsPartitionedApartStopTheWorkerBeforeCommitting(_ listensPartitioner: String, _ refused: Bool) throws {
        var w = try Workload(users: 40, tracks: 40, partitions: 4, seed: 73)
        defer { w.env.cleanUp() }
        let listens = try KafkaProducer(configuration: w.env.kafka.overriding(["partitioner": listensPartitioner]))
        for i in 0..<300 {
            let e = w.generator.listen(index: i, total: 300)
            try listens.produce(topic: w.env.topics.listens, key: e.userID, value: e.json())
        }
        try listens.flush(timeoutMs: 10_000)
        let onboarding = try KafkaProducer(configuration: w.env.kafka)
        for u in 0..<20 {
            let e = w.generator.onboarding(user: Array("u\(u)".utf8), timeMs: 1_780_000_000_000)
            try onboarding.produce(topic: w.env.topics.onboarding, key: e.userID, value: e.json())
        }
        try onboarding.flush(timeoutMs: 10_000)
        if refused {
            let message = try refusal(w, w.env.model)
            #expect(
                message.contains("topic '\(w.env.topics.listens)' is partitioned as by murmur2")
                    && message.contains("topic '\(w.env.topics.onboarding)' as by consistent"), "\(message)")
        } else {
            let messages = LogCapture()
            let metrics = try StreamWorker(
                configuration: w.env.workerConfiguration(), model: w.env.model, logger: Logger(label: "test") { _ in messages }
            ).run(until: .whenCaughtUp())
            #expect(metrics.listensApplied == 300 && metrics.onboardingsApplied == 20)
            // A new group's partitions start at their first records' offsets, resolved by the
            // worker: left to librdkafka as "beginning", some were looked up half a second late, and
            // the first cycle held the others alone (listens without the onboarding events, here
            // half the runs, which the refusal above then committed).
            let starts = messages.entries.first { $0.message == "start offsets" }?.metadata["starts"].map { "\($0)" } ?? ""
            #expect(starts.contains("listens[0]=0") && starts.contains("onboarding[3]=0") && !starts.contains("beginning"), "\(starts)")
        }
    }

    /// The same records among ten times as many good ones are dead-lettered, and the rest applied.
    @Test func aFewEventsOfAnotherFormAreDeadLetteredAndTheRestProcessed() throws {
        var w = try Workload(users: 30, tracks: 40, partitions: 2, seed: 67)
        defer { w.env.cleanUp() }
        try w.produceListens(500)
        try produceListensStampedInSeconds(&w, 50)
        let metrics = try StreamWorker(configuration: w.env.workerConfiguration(), model: w.env.model).run(until: .whenCaughtUp())
        #expect(metrics.listensApplied == 500)
        #expect(metrics.deadLetters[DeadLetterReason.invalidField.rawValue] == 50)
    }

    @Test func aFewUnknownTracksAreDeadLetteredAndTheRestProcessed() throws {
        var w = try Workload(users: 30, tracks: 40, partitions: 2, seed: 47)
        defer { w.env.cleanUp() }
        try w.produceListens(300)
        let producer = try KafkaProducer(configuration: w.env.kafka)
        for i in 0..<20 {
            try producer.produce(
                topic: w.env.topics.listens, key: Array("u1".utf8),
                value: Array(#"{"user_id":"u1","track_id":"new-\#(i)","timestamp_ms":1780000000000}"#.utf8))
        }
        try producer.flush(timeoutMs: 10_000)
        let metrics = try StreamWorker(configuration: w.env.workerConfiguration(), model: w.env.model).run(until: .whenCaughtUp())
        #expect(metrics.listensApplied == 300)
        #expect(metrics.deadLetters[DeadLetterReason.unknownTrack.rawValue] == 20)
    }
}
