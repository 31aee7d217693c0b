// Batch management end to end: promotion while listens flow, retire, refusals, and a SIGKILL mid re-encode.
import Foundation
import Synchronization
import Testing
import UserRepKafka
import UserRepModel
@testable import UserRepPipeline
import UserRepTesting
import UserRepState

@Suite(.serialized) struct BatchRotationTests {
    /// A random model of the workload's embedding batch, written beside the environment's model.
    func writeModel(_ w: Workload, batchID: String, seed: UInt64) throws -> URL {
        let (manifest, weights) = ModelFactory.random(
            batchID: batchID, embeddingBatchID: w.generator.settings.embeddingBatchID, dims: w.generator.settings.dims, seed: seed)
        return try ModelFactory.write(manifest: manifest, weights: weights, to: w.env.directory.appendingPathComponent("model-\(batchID)"))
    }

    /// The batches' output topics (the embedded cluster answers no CreateTopics, so `promote` finds them made).
    func createOutputTopics(_ w: Workload, _ batchIDs: [String]) throws {
        for id in batchIDs { try w.env.createTopic(w.env.topics.output(forBatch: id), partitions: w.env.partitions) }
    }

    /// Every user's last vector on `batchID`'s topic equals the naive recomputation through its model;
    /// every record there is of that batch. Returns the records.
    @discardableResult
    func expectLastVectorsMatchNaive(_ w: Workload, batchID: String, manifest: URL, listens: [ListenEvent]) throws -> [RepresentationRecord]
    {
        let (all, latest) = try latestVectors(w.env.kafka, w.env.topics.output(forBatch: batchID))
        #expect(all.allSatisfy { $0.batchID == batchID }, "no record of another batch on \(batchID)'s topic")
        let byUser = Dictionary(grouping: listens) { String(decoding: $0.userID, as: UTF8.self) }
        #expect(Set(latest.keys) == Set(byUser.keys), "every user has a vector of \(batchID) (\(latest.count) of \(byUser.count))")
        let naive = try NaiveModel(manifestURL: manifest, tracks: w.generator.trackRecords())
        var worst = 0.0
        for (user, events) in byUser {
            guard let record = latest[user] else { continue }
            #expect(record.updateSequence == UInt64(events.count))
            for (got, want) in zip(record.vector, try naive.vector(for: events)) {
                worst = max(worst, abs(Double(got) - want) / max(1, abs(want)))
            }
        }
        #expect(worst <= 1e-4, "\(batchID): largest relative difference \(worst)")
        return all
    }

    @Test func promotionWhileListensFlowThenRetire() throws {
        var w = try Workload(users: 300, tracks: 200, partitions: 4, seed: 41)
        defer { w.env.cleanUp() }
        let a = w.env.model.batchID
        let b2 = try writeModel(w, batchID: "b2", seed: 2)
        let b3 = try writeModel(w, batchID: "b3", seed: 3)
        try createOutputTopics(w, [a, "b2", "b3"])
        let admin = BatchRegistryAdmin(kafka: w.env.kafka, topics: w.env.topics)
        try admin.promote(modelAt: w.env.manifestURL.path)

        let events = (0..<3_000).map { w.generator.listen(index: $0, total: 3_000) }
        w.listens = events
        // The sender holds at listen 2,000 until b2 is promoted, so listens flow on both sides of it.
        let sender = BurstSender(
            kafka: w.env.kafka, topic: w.env.topics.listens, events: events, holds: [2_000], burst: 100, pauseMicroseconds: 20_000)
        // Promote b2 once the worker has published vectors of batch a for a part of the listens.
        let promoted = Mutex(false)
        let kafka = w.env.kafka, topicA = w.env.topics.output(forBatch: a), b2Path = b2.path
        let promoter = Thread {
            defer {
                promoted.withLock { $0 = true }
                sender.release()
            }
            guard let subscriber = try? OutputSubscriber(kafka: kafka, topic: topicA, format: .protobuf, batchID: nil, fromBeginning: true)
            else { return }
            var seen = 0
            let deadline = Date().addingTimeInterval(60)
            while seen < 500 && Date() < deadline { seen += (try? subscriber.poll(timeoutMs: 50).count) ?? 0 }
            _ = try? admin.promote(modelAt: b2Path)
        }
        promoter.start()
        var config = try w.env.workerConfiguration()
        config.maxPollRecords = 300
        let m1 = try StreamWorker(configuration: config, models: .registry()).run(
            until: .whenCaughtUp(gate: { promoted.withLock { $0 } && sender.isDone }))
        #expect(m1.listensApplied == 3_000 && m1.registryChanges == 1 && m1.registryRefusals == 0)
        // a's first re-encode covers the users stored when it was promoted (none or a few), b2's every user stored by then.
        #expect(m1.usersReencoded > 0 && m1.usersReencoded <= 600)

        // Both batches' last vectors equal their own models' recomputation; b2 reached users who
        // were silent after the promotion through the re-encode.
        try expectLastVectorsMatchNaive(w, batchID: a, manifest: w.env.manifestURL, listens: events)
        let b2Records = try expectLastVectorsMatchNaive(w, batchID: "b2", manifest: b2, listens: events)
        #expect(b2Records.contains { $0.trigger == .batchReencode } && b2Records.contains { $0.trigger == .listen })
        let progress = try admin.read()
        for p in 0..<Int32(w.env.partitions) {
            #expect(progress.progress(.reencode, batchID: "b2", partition: p)?.done == true, "completion record of partition \(p)")
        }

        // b3 makes b2 legacy and retires a: the next run re-encodes b3 and tombstones a's records.
        try admin.promote(modelAt: b3.path)
        let m2 = try StreamWorker(configuration: config, models: .registry()).run(until: .whenCaughtUp())
        let users = Set(events.map(\.userID)).count
        #expect(
            m2.usersReencoded >= users && m2.usersTombstoned == users, "re-encoded \(m2.usersReencoded), tombstoned \(m2.usersTombstoned)")
        var lastValue: [[UInt8]: Bool] = [:]
        let aRecords = try readTopic(w.env.kafka, topicA)
        for r in aRecords { if let key = r.key { lastValue[key] = r.value != nil } }
        #expect(lastValue.count == users && lastValue.values.allSatisfy { !$0 }, "every user's last record of a is a tombstone")

        // Listens after the retire: b3 and b2 get them, a nothing any more.
        try w.produceListens(400)
        let m3 = try StreamWorker(configuration: config, models: .registry()).run(until: .whenCaughtUp())
        #expect(m3.listensApplied == 400)
        #expect(try readTopic(w.env.kafka, topicA).count == aRecords.count, "no worker publishes the retired batch")
        try expectLastVectorsMatchNaive(w, batchID: "b3", manifest: b3, listens: w.listens)
        try expectLastVectorsMatchNaive(w, batchID: "b2", manifest: b2, listens: w.listens)

        // The registry's history: a went current → legacy → retired.
        var states: [BatchEntry.State] = []
        for document in try admin.read().history {
            guard let state = document.batches.first(where: { $0.batchID == a })?.state, states.last != state else { continue }
            states.append(state)
        }
        #expect(states == [.current, .legacy, .retired])
    }

    /// A model whose weights changed after promotion is refused: at start-up with an error, and as a
    /// registry change while running (the batches published before stay). A model of another
    /// embedding batch is refused by `batches promote` with the runbook's step.
    @Test func wrongChecksumAndOtherEmbeddingBatchAreRefused() throws {
        var w = try Workload(users: 100, tracks: 120, partitions: 2, seed: 43)
        defer { w.env.cleanUp() }
        let a = w.env.model.batchID
        let b2 = try writeModel(w, batchID: "b2", seed: 2)
        try createOutputTopics(w, [a, "b2", "b3", "x1"])
        let admin = BatchRegistryAdmin(kafka: w.env.kafka, topics: w.env.topics)
        try admin.promote(modelAt: w.env.manifestURL.path)
        try w.produceListens(600)
        let config = try w.env.workerConfiguration()
        try StreamWorker(configuration: config, models: .registry()).run(until: .whenCaughtUp())

        // b2 promoted, then its weights file replaced by other weights of the same shape: a
        // worker refuses to start on it.
        try admin.promote(modelAt: b2.path)
        let weights = b2.deletingLastPathComponent().appendingPathComponent("model.safetensors")
        let good = try Data(contentsOf: weights)
        let other = ModelFactory.random(
            batchID: "b2", embeddingBatchID: w.generator.settings.embeddingBatchID, dims: w.generator.settings.dims, seed: 99
        ).weights
        try other.serialized().write(to: weights)
        let error = #expect(throws: WorkerError.self) { _ = try StreamWorker(configuration: config, models: .registry()) }
        #expect(error?.message.contains("SHA-256") == true, "\(error?.message ?? "")")
        try good.write(to: weights)

        // While a worker runs: b3 is promoted with the checksum of its weights, which are then
        // replaced before any worker reads them. The worker refuses that registry version and goes on
        // publishing b2 and a, for the listens that follow too.
        let b3 = try writeModel(w, batchID: "b3", seed: 3)
        let b3Entry = try BatchModels.entry(forModelAt: b3.path)
        let b3Weights = b3.deletingLastPathComponent().appendingPathComponent("model.safetensors")
        let late = (0..<200).map { w.generator.listen(index: $0, total: 200) }
        w.listens += late
        let kafka = w.env.kafka, topics = w.env.topics
        let changed = Mutex(false)
        let changer = Thread {
            defer { changed.withLock { $0 = true } }
            guard
                let subscriber = try? OutputSubscriber(
                    kafka: kafka, topic: topics.output(forBatch: "b2"), format: .protobuf, batchID: nil, fromBeginning: true)
            else { return }
            var seen = 0
            let deadline = Date().addingTimeInterval(60)
            while seen < 50 && Date() < deadline { seen += (try? subscriber.poll(timeoutMs: 50).count) ?? 0 }
            try? other.serialized().write(to: b3Weights)
            _ = try? admin.promote(b3Entry)
            guard let producer = try? KafkaProducer(configuration: kafka) else { return }
            for e in late { try? producer.produce(topic: topics.listens, key: e.userID, value: e.json()) }
            try? producer.flush(timeoutMs: 30_000)
        }
        changer.start()
        let m = try StreamWorker(configuration: config, models: .registry()).run(until: .whenCaughtUp(gate: { changed.withLock { $0 } }))
        #expect(m.registryRefusals == 1 && m.registryChanges == 0)
        #expect(m.usersReencoded > 0, "b2's re-encode ran before")
        #expect(try readTopic(w.env.kafka, w.env.topics.output(forBatch: "b3")).isEmpty, "nothing of the refused batch")
        try expectLastVectorsMatchNaive(w, batchID: "b2", manifest: b2, listens: w.listens)
        try expectLastVectorsMatchNaive(w, batchID: a, manifest: w.env.manifestURL, listens: w.listens)

        // `subscribe --batch-id` reads the batch's own topic.
        let tail = try runUserrep([
            "subscribe", "--batch-id", "b2", "--from-beginning", "--limit", "3", "--bootstrap-servers", w.env.bootstrapServers,
        ])
        #expect(tail.status == 0 && tail.output.components(separatedBy: "batch=b2").count == 4, "\(tail.output)")

        // Another embedding batch, through the command line.
        let (xManifest, xWeights) = ModelFactory.random(
            batchID: "x1", embeddingBatchID: "other-embeddings", dims: w.generator.settings.dims, seed: 5)
        let x1 = try ModelFactory.write(manifest: xManifest, weights: xWeights, to: w.env.directory.appendingPathComponent("model-x1"))
        let refused = try runUserrep(["batches", "promote", "--model", x1.path, "--bootstrap-servers", w.env.bootstrapServers])
        #expect(refused.status == 1)
        #expect(refused.output.contains("Rotating to a new embedding batch") && !refused.output.contains("Usage:"), "\(refused.output)")
    }

    /// The set-up of a re-encode: the workload's batch current, 4,000 listens in a registry
    /// worker's state (`state`), and b2 written but not promoted. Returns b2's manifest, the
    /// registry admin, the number of users and the worker's arguments (with `--registry`).
    func reencodeSetUp(_ w: inout Workload, state: String) throws -> (
        b2: URL, admin: BatchRegistryAdmin, users: Int, args: [String]
    ) {
        let b2 = try writeModel(w, batchID: "b2", seed: 2)
        try createOutputTopics(w, [w.env.model.batchID, "b2"])
        let admin = BatchRegistryAdmin(kafka: w.env.kafka, topics: w.env.topics)
        try admin.promote(modelAt: w.env.manifestURL.path)
        try w.produceListens(4_000)
        var args = workerArguments(w.env, group: "userrep", state: state)
        if let i = args.firstIndex(of: "--model") { args.replaceSubrange(i...(i + 1), with: ["--registry"]) }
        let first = try runUserrep(args + ["--stop-when-caught-up"])
        #expect(first.status == 0, "\(first.output)")
        return (b2, admin, Set(w.listens.map(\.userID)).count, args)
    }

    /// `userrep run --registry` SIGKILLed half-way through b2's re-encode resumes it from the progress
    /// records after a restart (it does not start over) and ends with every user's b2 vector equal
    /// to the naive recomputation, as an uninterrupted rotation does.
    @Test func killedDuringReencodeResumes() throws {
        let binary = try userrepBinary()
        var w = try Workload(users: 400, tracks: 150, partitions: 4, seed: 47)
        defer { w.env.cleanUp() }
        let (b2, admin, users, args) = try reencodeSetUp(&w, state: "state")

        // The promotion, then a worker re-encoding at 100 users/s, killed once a third is done.
        let promotion = try admin.promote(modelAt: b2.path)
        let page = 10
        let slow = try Process.run(binary, arguments: args + ["--batch-job-rate", "100", "--batch-job-page", "\(page)"])
        let progress = try BatchRegistryTopic(kafka: w.env.kafka, topic: w.env.topics.batches, logger: .init(label: "test"))
        let epoch = promotion.current?.promotedVersion ?? 0
        func reencoded() -> Int {
            (0..<Int32(w.env.partitions)).compactMap { progress.progress(.reencode, batchID: "b2", partition: $0) }
                .filter { $0.epoch == epoch }.reduce(0) { $0 + $1.users }
        }
        let deadline = Date().addingTimeInterval(120)
        while reencoded() < users / 3 && slow.isRunning && Date() < deadline { try progress.poll(timeoutMs: 100) }
        kill(slow.processIdentifier, SIGKILL)
        slow.waitUntilExit()
        #expect(slow.terminationReason == .uncaughtSignal, "killed mid re-encode")
        let beforeKill = try readTopic(w.env.kafka, w.env.topics.output(forBatch: "b2")).count
        #expect(beforeKill >= users / 3 && beforeKill < users, "killed part-way: \(beforeKill) of \(users)")

        let second = try runUserrep(args + ["--stop-when-caught-up", "--batch-job-page", "\(page)"])
        #expect(second.status == 0, "\(second.output)")
        let records = try expectLastVectorsMatchNaive(w, batchID: "b2", manifest: b2, listens: w.listens)
        #expect(records.allSatisfy { $0.trigger == .batchReencode })
        // Resumed: what the restart re-encoded is the rest (and at most a page per partition again), not everyone.
        // (Starting over would redo the third done before the kill.)
        #expect(records.count <= users + w.env.partitions * page, "\(records.count) re-encodes of \(users) users")
        #expect(records.count >= users)
        try progress.catchUp()
        for p in 0..<Int32(w.env.partitions) { #expect(progress.progress(.reencode, batchID: "b2", partition: p)?.done == true) }
    }

    /// A second worker joins half-way through a re-encode: the partitions it takes over resume
    /// from their progress records (at most a page per partition again), the first worker goes on
    /// with the rest, and every user ends with the b2 vector of the naive recomputation.
    @Test func aRebalanceDuringReencodeResumesOnTheNewOwner() throws {
        let binary = try userrepBinary()
        var w = try Workload(users: 400, tracks: 150, partitions: 4, seed: 53)
        defer { w.env.cleanUp() }
        let (b2, admin, users, args) = try reencodeSetUp(&w, state: "state-a")

        let promotion = try admin.promote(modelAt: b2.path)
        // Pages of 10 users: a partition taken over redoes at most 10 of its ~100 users.
        let page = 10
        let slow = args + ["--batch-job-rate", "100", "--batch-job-page", "\(page)"]
        let a = try Process.run(binary, arguments: slow)
        let progress = try BatchRegistryTopic(kafka: w.env.kafka, topic: w.env.topics.batches, logger: .init(label: "test"))
        let epoch = promotion.current?.promotedVersion ?? 0
        func current() -> [BatchJobProgress] {
            (0..<Int32(w.env.partitions)).compactMap { progress.progress(.reencode, batchID: "b2", partition: $0) }
                .filter { $0.epoch == epoch }
        }
        var deadline = Date().addingTimeInterval(120)
        while current().reduce(0, { $0 + $1.users }) < users / 3 && a.isRunning && Date() < deadline {
            try progress.poll(timeoutMs: 100)
        }
        // The second worker: its own state directory, so what it takes over it restores from the changelog.
        var second = slow
        if let i = second.firstIndex(of: "--state-dir") { second[i + 1] = w.env.directory.appendingPathComponent("state-b").path }
        let b = try Process.run(binary, arguments: second)
        deadline = Date().addingTimeInterval(180)
        while !(current().count == w.env.partitions && current().allSatisfy(\.done)) && a.isRunning && b.isRunning
            && Date() < deadline
        {
            try progress.poll(timeoutMs: 100)
        }
        for p in [a, b] { kill(p.processIdentifier, SIGTERM) }
        for p in [a, b] { p.waitUntilExit() }
        #expect(a.terminationStatus == 0 && b.terminationStatus == 0)
        #expect(current().count == w.env.partitions && current().allSatisfy(\.done), "every partition's completion record")
        let records = try expectLastVectorsMatchNaive(w, batchID: "b2", manifest: b2, listens: w.listens)
        // The workers keep running, so silent users' timers may fire too (trigger window_expiry).
        let reencodes = records.filter { $0.trigger == .batchReencode }.count
        #expect(records.allSatisfy { $0.trigger == .batchReencode || $0.trigger == .windowExpiry })
        // Resumed, not started over: at most one page per partition is re-encoded twice.
        // Starting a taken-over partition over would redo a third of its users.
        #expect(reencodes >= users && reencodes <= users + w.env.partitions * page, "\(reencodes) re-encodes of \(users) users")
    }

    /// A new embedding batch (the paper's Figure 6): its model is staged, a second group of workers
    /// with its own track topic, state and changelog builds a state of that embedding batch while the
    /// first group keeps publishing; promoted, the second group re-encodes every user with it and the
    /// first keeps the legacy batch.
    @Test func aNewEmbeddingBatchIsStagedBuiltThenPromoted() throws {
        var w = try Workload(users: 120, tracks: 120, partitions: 2, seed: 71)
        defer { w.env.cleanUp() }
        let a = w.env.model.batchID
        var settings2 = w.generator.settings
        settings2.embeddingBatchID = "emb-2"
        settings2.seed = 99
        let tracks2 = SyntheticGenerator(settings: settings2).trackRecords()
        var topics2 = w.env.topics
        topics2.tracks = "track-embeddings.emb-2"
        try w.env.createTopic(topics2.tracks, partitions: 2)
        let producer = try KafkaProducer(configuration: w.env.kafka)
        for record in tracks2 { try producer.produce(topic: topics2.tracks, key: record.trackID, value: record.json()) }
        try producer.flush(timeoutMs: 30_000)
        let (xManifest, xWeights) = ModelFactory.random(batchID: "x1", embeddingBatchID: "emb-2", dims: settings2.dims, seed: 5)
        let x1 = try ModelFactory.write(manifest: xManifest, weights: xWeights, to: w.env.directory.appendingPathComponent("model-x1"))
        try createOutputTopics(w, [a, "x1"])
        let admin = BatchRegistryAdmin(kafka: w.env.kafka, topics: w.env.topics)
        try admin.promote(modelAt: w.env.manifestURL.path)
        try w.produceListens(1_500)
        let configA = try w.env.workerConfiguration(stateName: "emb-1")
        try StreamWorker(configuration: configA, models: .registry()).run(until: .whenCaughtUp())

        // Staged: the emb-2 group builds its state and publishes nothing.
        try admin.stage(modelAt: x1.path)
        var configB = try w.env.workerConfiguration(stateName: "emb-2", groupID: "userrep-emb-2")
        configB.topics = topics2
        let built = try StreamWorker(configuration: configB, models: .registry(embeddingBatchID: "emb-2")).run(until: .whenCaughtUp())
        #expect(built.listensApplied == 1_500 && built.outputsPublished == 0)
        #expect(try readTopic(w.env.kafka, w.env.topics.output(forBatch: "x1")).isEmpty)

        // Promoted (it needs the flag), while listens go on.
        #expect(throws: BatchRegistryError.self) { try admin.promote(modelAt: x1.path) }
        try admin.promote(modelAt: x1.path, newEmbeddingBatch: true)
        try w.produceListens(300)
        let served = try StreamWorker(configuration: configB, models: .registry(embeddingBatchID: "emb-2")).run(until: .whenCaughtUp())
        #expect(served.usersReencoded > 0 && served.listensApplied == 300)
        let legacy = try StreamWorker(configuration: configA, models: .registry()).run(until: .whenCaughtUp())
        #expect(legacy.listensApplied == 300 && legacy.registryRefusals == 0)

        // x1's vectors come from emb-2's embeddings, a's (now legacy) from emb-1's.
        let (_, latestX) = try latestVectors(w.env.kafka, w.env.topics.output(forBatch: "x1"))
        let byUser = Dictionary(grouping: w.listens) { String(decoding: $0.userID, as: UTF8.self) }
        #expect(Set(latestX.keys) == Set(byUser.keys), "every user has an x1 vector")
        let naiveX = try NaiveModel(manifestURL: x1, tracks: tracks2)
        var worst = 0.0
        for (user, record) in latestX {
            #expect(record.embeddingBatchID == "emb-2")
            for (got, want) in zip(record.vector, try naiveX.vector(for: byUser[user] ?? [])) {
                worst = max(worst, abs(Double(got) - want) / max(1, abs(want)))
            }
        }
        #expect(worst <= 1e-4, "x1: largest relative difference \(worst)")
        try expectLastVectorsMatchNaive(w, batchID: a, manifest: w.env.manifestURL, listens: w.listens)
        #expect(try admin.read().registry?.live.map(\.batchID) == ["x1", a])
    }
}
