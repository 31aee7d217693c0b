// Onboarding, context features and imputation end to end, against the naive recomputation.
import Foundation
import Testing
import UserRepKafka
import UserRepModel
import UserRepPipeline
import UserRepTesting

@Suite(.serialized) struct ColdStartTests {
    static let countries = ["SE", "US", "BR"]
    static let languages = ["en", "sv", "pt", "ja"]

    /// A context model written to a temp directory.
    static func contextModel() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("userrep-ctx-\(UUID().uuidString)")
        let (manifest, weights) = ModelFactory.random(
            batchID: "ctx-1", embeddingBatchID: SyntheticGenerator.Settings().embeddingBatchID,
            dims: .init(audio: 80, collaborative: 80), seed: 9, context: (countries, languages))
        return try ModelFactory.write(manifest: manifest, weights: weights, to: dir)
    }

    func b(_ s: String) -> [UInt8] { Array(s.utf8) }

    func maxRelativeDifference(_ got: [Float], _ want: [Double]) -> Double {
        zip(got, want).map { abs(Double($0) - $1) / max(1, abs($1)) }.max() ?? .infinity
    }

    @Test func onboardingListensAndTransitionEndToEnd() throws {
        let modelURL = try Self.contextModel()
        defer { try? FileManager.default.removeItem(at: modelURL.deletingLastPathComponent()) }
        let w = try Workload(users: 20, tracks: 100, partitions: 3, seed: 31, manifestURL: modelURL)
        defer { w.env.cleanUp() }
        let naive = try NaiveModel(manifestURL: modelURL, tracks: w.generator.trackRecords())
        let producer = try KafkaProducer(configuration: w.env.kafka)
        let t0: Int64 = 1_780_000_000_000
        let day = Horizon.dayMs
        var onboarding: [String: [OnboardingEvent]] = [:]
        var listens: [String: [ListenEvent]] = [:]
        func send(_ e: OnboardingEvent) throws {
            onboarding[String(decoding: e.userID, as: UTF8.self), default: []].append(e)
            try producer.produce(topic: w.env.topics.onboarding, key: e.userID, value: e.json())
        }
        func send(_ e: ListenEvent) throws {
            listens[String(decoding: e.userID, as: UTF8.self), default: []].append(e)
            try producer.produce(topic: w.env.topics.listens, key: e.userID, value: e.json())
        }
        // Phase 1: sign-ups only.
        try send(
            OnboardingEvent(
                userID: b("new1"), timestampMs: t0, artistIDs: [b("a1"), b("a2"), b("no-such-artist")],
                languages: [b("en"), b("sv"), b("xx")], country: b("SE")))
        try send(OnboardingEvent(userID: b("skip1"), timestampMs: t0, artistIDs: [], languages: []))
        try send(OnboardingEvent(userID: b("twinA"), timestampMs: t0, artistIDs: [b("a3")], languages: [b("pt")], country: b("BR")))
        try send(
            OnboardingEvent(userID: b("twinB"), timestampMs: t0, artistIDs: [b("a4"), b("a5")], languages: [b("ja")], country: b("BR")))
        try producer.flush(timeoutMs: 10_000)
        var config = try w.env.workerConfiguration()
        let m1 = try w.runToEnd(config)
        #expect(m1.onboardingsApplied == 4)
        #expect(m1.unknownArtists == 1, "unknown artists are counted and skipped")
        let phase1 = try latestVectors(w.env.kafka, w.env.topics.output).latest
        #expect(Set(phase1.keys) == ["new1", "skip1", "twinA", "twinB"], "every sign-up gets a vector before any listen")
        for (user, record) in phase1 {
            #expect(record.trigger == .onboarding)
            let finite = record.vector.allSatisfy { $0.isFinite }
            #expect(finite)
            let d = try maxRelativeDifference(record.vector, naive.vector(for: [], onboarding: onboarding[user] ?? []))
            #expect(d <= 1e-4, "\(user): cold-start vector differs from the naive recomputation by \(d)")
        }
        #expect(phase1["twinA"]?.vector != phase1["twinB"]?.vector, "different picks give different cold-start vectors")

        // Phase 2: listens a day later for new1; identical listening for the twins after the period.
        for i in 0..<5 {
            try send(
                ListenEvent(
                    userID: b("new1"), trackID: b("t\(i * 7)"), timestampMs: t0 + day + Int64(i) * 60_000,
                    device: b(i % 2 == 0 ? "mobile" : "tv")))
            for twin in ["twinA", "twinB"] {
                try send(
                    ListenEvent(
                        userID: b(twin), trackID: b("t\(i * 3)"), timestampMs: t0 + 100 * day + Int64(i) * 60_000,
                        country: b("US"), device: b("speaker")))
            }
        }
        try producer.flush(timeoutMs: 10_000)
        config.maxPollRecords = 4
        let m2 = try w.runToEnd(config)
        #expect(m2.listensApplied == 15)
        let phase2 = try latestVectors(w.env.kafka, w.env.topics.output).latest
        let new1 = try #require(phase2["new1"])
        #expect(new1.trigger == .listen && new1.updateSequence == 6)
        #expect(new1.vector != phase1["new1"]?.vector, "listens change the vector")
        #expect(
            try maxRelativeDifference(new1.vector, naive.vector(for: listens["new1"] ?? [], onboarding: onboarding["new1"] ?? [])) <= 1e-4)
        let a = try #require(phase2["twinA"]), bTwin = try #require(phase2["twinB"])
        // Equal to float rounding: the twins may be encoded in cycles of different sizes, and BLAS
        // sums a row in another order in another block size.
        #expect(
            maxRelativeDifference(a.vector, bTwin.vector.map(Double.init)) <= 1e-5,
            "after the onboarding period, identical listening gives identical vectors")
        #expect(
            try maxRelativeDifference(a.vector, naive.vector(for: listens["twinA"] ?? [], onboarding: onboarding["twinA"] ?? [])) <= 1e-4)
    }

    @Test func layoutsInconsistentWithDimensionsOrVocabulariesAreRefusedAtLoad() throws {
        let dims = ModelManifest.EmbeddingDims(audio: 4, collaborative: 3)
        let (manifest, weights) = ModelFactory.random(
            batchID: "b", embeddingBatchID: "e", dims: dims, hidden: [8], outputSize: 5,
            context: (Self.countries, Self.languages))
        func message(_ change: (inout ModelManifest) -> Void) -> String {
            var m = manifest
            change(&m)
            do { _ = try EncoderModel(manifest: m, weights: weights); return "accepted" } catch { return "\(error)" }
        }
        #expect(message { _ in } == "accepted")
        #expect(
            message { $0.languages = ["en", "sv", "pt"] }.contains(
                "onboarding_languages' (onboarding_languages) has size 4 but the languages list must require 3"))
        #expect(message { $0.countries = nil }.contains("needs the manifest's 'countries' list"))
        #expect(
            message { $0.embeddingDims = .init(audio: 5, collaborative: 3) }.contains("has size 4 but the embedding dimensions require 5"))
        #expect(
            message { m in
                let i = m.features.firstIndex { $0.kind == .onboardingArtistAudio }!
                m.features[i].imputation = nil
            }.contains("can lack data and needs 'imputation' values"))
        #expect(
            message { m in
                let i = m.features.firstIndex { $0.kind == .imputedIndicators }!
                m.features[i].covers = ["play_count_log1p_1w"]
            }.contains("is never imputed"))
    }
}
