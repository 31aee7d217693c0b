// Shared helpers of the end-to-end tests: a small embedded setup and independent recomputation.
import Foundation
import Synchronization
import Testing
import UserRepKafka
import UserRepModel
import UserRepPipeline
import UserRepTesting
import UserRepState


/// A small deterministic workload on a fresh embedded cluster.
struct Workload {
    let env: EmbeddedEnvironment
    var generator: SyntheticGenerator
    var listens: [ListenEvent] = []

    init(users: Int = 300, tracks: Int = 200, partitions: Int = 4, seed: UInt64 = 7, manifestURL: URL? = nil) throws {
        var s = SyntheticGenerator.Settings()
        s.users = users
        s.tracks = tracks
        s.artists = 20
        s.seed = seed
        generator = SyntheticGenerator(settings: s)
        env = try EmbeddedEnvironment(brokers: 3, partitions: partitions, generator: generator, manifestURL: manifestURL)
    }

    /// Produces `count` listens to `topic` and remembers them.
    mutating func produceListens(_ count: Int, topic: String? = nil) throws {
        let producer = try KafkaProducer(configuration: env.kafka)
        for i in 0..<count {
            let e = generator.listen(index: i, total: count)
            listens.append(e)
            try producer.produce(topic: topic ?? env.topics.listens, key: e.userID, value: e.json())
        }
        try producer.flush(timeoutMs: 30_000)
    }
}

/// Independent reference implementation: features from raw events by the documented window rule,
/// then the MLP in plain Double loops, straight from the model files.
struct NaiveModel {
    let manifest: ModelManifest
    let weights: SafeTensors
    let tracks: [String: [Float]]
    /// Mean embedding of each artist's tracks, in Double.
    let artistMeans: [String: [Double]]

    init(manifestURL: URL, tracks: [TrackRecord]) throws {
        let data = try Data(contentsOf: manifestURL)
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        manifest = try decoder.decode(ModelManifest.self, from: data)
        weights = try SafeTensors(contentsOf: manifestURL.deletingLastPathComponent().appendingPathComponent(manifest.weights))
        var t: [String: [Float]] = [:]
        var byArtist: [String: [[Float]]] = [:]
        for r in tracks {
            t[String(decoding: r.trackID, as: UTF8.self)] = r.audio + r.collaborative
            byArtist[String(decoding: r.artistID, as: UTF8.self), default: []].append(r.audio + r.collaborative)
        }
        self.tracks = t
        artistMeans = byArtist.mapValues { list in
            (0..<list[0].count).map { k in list.reduce(0) { $0 + Double($1[k]) } / Double(list.count) }
        }
    }

    /// The vector of a user whose listens are `events` and onboarding events `onboarding`
    /// (arrival order), computed at their newest event time.
    func vector(for events: [ListenEvent], onboarding: [OnboardingEvent] = []) -> [Double] {
        let ref = events.map(\.timestampMs).max() ?? Int64.min
        let now = max(ref, onboarding.map(\.timestampMs).max() ?? Int64.min)
        let audio = manifest.embeddingDims.audio, collab = manifest.embeddingDims.collaborative
        let devices = DeviceClass.allCases.count
        // Profile, by the documented rules: first onboarding = sign-up, newest picks win, newest country wins.
        let signup = onboarding.map(\.timestampMs).min()
        var picks: OnboardingEvent?
        for e in onboarding where e.timestampMs >= (picks?.timestampMs ?? Int64.min) { picks = e }
        var country: (time: Int64, code: [UInt8])?
        var stream: [(Int64, [UInt8]?)] = onboarding.map { ($0.timestampMs, $0.country) }
        stream += events.map { ($0.timestampMs, $0.country) }
        for (t, c) in stream { if let c, t >= (country?.time ?? Int64.min) { country = (t, c) } }
        let picksActive = signup.map { now - $0 < manifest.onboardingPeriodMs } ?? false

        var x = [Double](repeating: 0, count: manifest.layers[0])
        var imputed = Set<String>()
        func impute(_ g: FeatureGroup) {
            imputed.insert(g.name)
            for k in 0..<g.size { x[g.offset + k] = Double(g.imputation?[k] ?? 0) }
        }
        for g in manifest.features where g.kind != .imputedIndicators {
            if let name = g.horizon, let horizon = Horizon.named(name) {
                var count = 0.0
                var sums = [Double](repeating: 0, count: audio + collab)
                var deviceCounts = [Double](repeating: 0, count: devices)
                for e in events where TilePolicy.listenCounts(eventTimeMs: e.timestampMs, referenceTimeMs: ref, horizon: horizon, computeTimeMs: now) {
                    count += 1
                    let emb = tracks[String(decoding: e.trackID, as: UTF8.self)]!
                    for k in sums.indices { sums[k] += Double(emb[k]) }
                    if let d = e.device { deviceCounts[DeviceClass(name: d).rawValue] += 1 }
                }
                switch g.kind {
                case .playCountLog1p: x[g.offset] = log1p(count)
                case .audioMean, .collaborativeMean:
                    guard count > 0 else { impute(g); continue }
                    let base = g.kind == .audioMean ? 0 : audio
                    for k in 0..<g.size { x[g.offset + k] = sums[base + k] / count }
                case .deviceMix:
                    let total = deviceCounts.reduce(0, +)
                    guard total > 0 else { impute(g); continue }
                    for k in 0..<g.size { x[g.offset + k] = deviceCounts[k] / total }
                default: Issue.record("unexpected per-horizon kind \(g.kind)")
                }
                continue
            }
            switch g.kind {
            case .country:
                guard let code = country?.code else { impute(g); continue }
                let slot = (manifest.countries ?? []).firstIndex(of: String(decoding: code, as: UTF8.self)) ?? g.size - 1
                for k in 0..<g.size { x[g.offset + k] = k == slot ? 1 : 0 }
            case .accountAgeLog1pDays:
                guard let signup else { impute(g); continue }
                x[g.offset] = log1p(Double(max(0, now - signup)) / 86_400_000)
            case .onboardingLanguages:
                guard picksActive, let picks, !picks.languages.isEmpty else { impute(g); continue }
                for (k, language) in (manifest.languages ?? []).enumerated() {
                    x[g.offset + k] = picks.languages.contains(Array(language.utf8)) ? 1 : 0
                }
            case .onboardingArtistAudio, .onboardingArtistCollaborative:
                let means = (picks?.artistIDs ?? []).compactMap { artistMeans[String(decoding: $0, as: UTF8.self)] }
                guard picksActive, !means.isEmpty else { impute(g); continue }
                let base = g.kind == .onboardingArtistAudio ? 0 : audio
                for k in 0..<g.size { x[g.offset + k] = means.reduce(0) { $0 + $1[base + k] } / Double(means.count) }
            default: Issue.record("unexpected kind \(g.kind)")
            }
        }
        for g in manifest.features where g.kind == .imputedIndicators {
            for (k, name) in (g.covers ?? []).enumerated() { x[g.offset + k] = imputed.contains(name) ? 1 : 0 }
        }
        if let norm = manifest.normalization {
            let mean = weights.tensors[norm.mean]!.values, std = weights.tensors[norm.std]!.values
            for k in x.indices { x[k] = (x[k] - Double(mean[k])) / Double(std[k]) }
        }
        for i in 0..<(manifest.layers.count - 1) {
            let w = weights.tensors[ModelManifest.weightTensor(i)]!.values
            let b = weights.tensors[ModelManifest.biasTensor(i)]!.values
            let n = manifest.layers[i], out = manifest.layers[i + 1]
            let last = i == manifest.layers.count - 2
            x = (0..<out).map { o in
                var s = Double(b[o])
                for k in 0..<n { s += Double(w[o * n + k]) * x[k] }
                if last || s > 0 { return last ? s : 1.0507009873554805 * s }
                return 1.0507009873554805 * 1.6732632423543772 * (exp(s) - 1)
            }
        }
        return x
    }
}

/// Every record on a topic, with headers, read from the beginning to the end (in offset order
/// within each partition).
func readTopic(_ kafka: KafkaConfiguration, _ topic: String) throws -> [(key: [UInt8]?, value: [UInt8]?, headers: [KafkaHeader], partition: Int32)] {
    let consumer = try KafkaConsumer(configuration: kafka.overriding(["group.id": "test-reader-\(UUID().uuidString)"]), trackPartitionEnd: true)
    guard let n = try consumer.partitionCount(topic: topic) else { return [] }
    var all: [KafkaTopicPartition: KafkaOffset] = [:]
    for p in 0..<Int32(n) { all[KafkaTopicPartition(topic: topic, partition: p)] = .beginning }
    try consumer.assign(all)
    let batch = KafkaMessageBatch(topics: [topic])
    var out: [(key: [UInt8]?, value: [UInt8]?, headers: [KafkaHeader], partition: Int32)] = []
    repeat {
        try consumer.poll(into: batch, maxMessages: 10_000, timeoutMs: 200)
        for i in 0..<batch.count {
            let m = batch[i]
            out.append((m.key.map { Array($0) }, m.value.map { Array($0) }, m.headers, m.partition))
        }
    } while !consumer.partitionsAtEnd.isSuperset(of: consumer.assignment)
    consumer.close()
    return out
}

/// Every user state in a closed state directory.
func dumpState(_ directory: String, model: EncoderModel) throws -> [UserKey: UserState] {
    let store = try StateStore(directory: directory, embeddingBatchID: model.manifest.embeddingBatchId, width: model.layout.listenWidth)
    var result: [UserKey: UserState] = [:]
    try store.forEachUser { key, state in
        result[key] = state
        return true
    }
    return result
}

/// The last record per user (highest update sequence) of an output topic.
func latestVectors(_ kafka: KafkaConfiguration, _ topic: String) throws -> (all: [RepresentationRecord], latest: [String: RepresentationRecord]) {
    var latest: [String: RepresentationRecord] = [:]
    var all: [RepresentationRecord] = []
    for r in try readTopic(kafka, topic) {
        let record = try r.value!.withUnsafeBytes { try RepresentationRecord.decode($0, format: .protobuf) }
        all.append(record)
        if (latest[record.userID]?.updateSequence ?? 0) < record.updateSequence { latest[record.userID] = record }
    }
    return (all, latest)
}

/// Users whose states differ between two dumps (empty when equal), without printing the states.
func differingUsers(_ a: [UserKey: UserState], _ b: [UserKey: UserState]) -> [String] {
    Set(a.keys).union(b.keys).filter { a[$0] != b[$0] }.map(\.userIDString).sorted()
}

/// The newest state of every user in a changelog topic: the authority once workers have stopped.
func changelogStates(_ kafka: KafkaConfiguration, _ topic: String, model: EncoderModel) throws -> [UserKey: UserState] {
    var result: [UserKey: UserState] = [:]
    for r in try readTopic(kafka, topic) {
        let key = UserKey(partition: r.partition, userID: r.key ?? [])
        guard let value = r.value else { result.removeValue(forKey: key); continue }
        result[key] = try value.withUnsafeBytes { try UserStateCodec.decode($0, expectedWidth: model.layout.listenWidth) }
    }
    return result
}

/// Compares the final vector of every user on two output topics: the users, update sequences,
/// and the largest relative difference of a vector element.
func compareFinalVectors(_ kafka: KafkaConfiguration, _ topic: String, _ referenceTopic: String) throws -> (sameUsers: Bool, sequenceMismatches: [String], worst: Double) {
    let a = try latestVectors(kafka, topic).latest
    let b = try latestVectors(kafka, referenceTopic).latest
    var worst = 0.0
    var mismatches: [String] = []
    for (user, record) in a {
        guard let other = b[user] else { continue }
        if record.updateSequence != other.updateSequence { mismatches.append(user) }
        for (x, y) in zip(record.vector, other.vector) { worst = max(worst, Double(abs(x - y)) / max(1, Double(abs(y)))) }
    }
    return (Set(a.keys) == Set(b.keys), mismatches.sorted(), worst)
}

/// Produces listens from a background thread in bursts, so workers see them arrive over time.
/// With `holds`, it stops before each of those indexes until `release()` is called.
final class BurstSender: Sendable {
    private let produced = Mutex(0)
    private let released = Mutex(0)
    /// Listens to send, in order.
    let events: [ListenEvent]

    init(kafka: KafkaConfiguration, topic: String, events: [ListenEvent], holds: [Int] = [], burst: Int = 200, pauseMicroseconds: UInt32 = 20_000) {
        self.events = events
        let thread = Thread { [self] in
            guard let producer = try? KafkaProducer(configuration: kafka) else { return }
            for (i, e) in events.enumerated() {
                if let hold = holds.firstIndex(of: i) {
                    try? producer.flush(timeoutMs: 30_000)
                    produced.withLock { $0 = i }
                    while released.withLock({ $0 }) <= hold { usleep(10_000) }
                }
                try? producer.produce(topic: topic, key: e.userID, value: e.json())
                if i % burst == burst - 1 {
                    try? producer.flush(timeoutMs: 30_000)
                    produced.withLock { $0 = i + 1 }
                    usleep(pauseMicroseconds)
                }
            }
            try? producer.flush(timeoutMs: 30_000)
            produced.withLock { $0 = events.count }
        }
        thread.start()
    }

    /// Lets the sender continue past its next hold.
    func release() { released.withLock { $0 += 1 } }

    /// Blocks until every listen has been delivered.
    func waitUntilDone() { while produced.withLock({ $0 }) < events.count { usleep(20_000) } }

    /// Listens produced per user id.
    var perUser: [String: UInt64] { Dictionary(grouping: events) { String(decoding: $0.userID, as: UTF8.self) }.mapValues { UInt64($0.count) } }
}

/// Arguments of a `userrep run` process on the workload's cluster, in group `group`, with state
/// in the scratch directory's `state` folder (or at `stateDirectory`).
func workerArguments(_ env: EmbeddedEnvironment, group: String, state: String, stateDirectory: URL? = nil, maxBatch: Int = 100,
                     logLevel: String = "warning") -> [String] {
    ["run", "--bootstrap-servers", env.cluster.bootstrapServers, "--model", env.manifestURL.path,
     "--state-dir", (stateDirectory ?? env.directory.appendingPathComponent(state)).path, "--group-id", group, "--max-batch", String(maxBatch),
     "--log-level", logLevel, "-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=500"]
}

/// Runs an uninterrupted in-process worker over everything on the input topics, in group
/// "reference" with state "reference" and its own output topic "reference-output".
func runReference(_ env: EmbeddedEnvironment) throws -> WorkerConfiguration {
    var reference = try env.workerConfiguration(stateName: "reference", groupID: "reference")
    reference.topics.output = "reference-output"
    try env.cluster.createTopic("reference-output", partitions: env.partitions)
    try StreamWorker(configuration: reference, model: env.model).run(until: .whenCaughtUp())
    return reference
}

/// The consumer group's committed next offset per partition of `topic`.
func committedOffsets(_ kafka: KafkaConfiguration, group: String, topic: String, partitions: Int) throws -> [Int32: Int64] {
    let consumer = try KafkaConsumer(configuration: kafka.overriding(["group.id": group]))
    defer { consumer.close() }
    let tps = (0..<Int32(partitions)).map { KafkaTopicPartition(topic: topic, partition: $0) }
    return Dictionary(uniqueKeysWithValues: try consumer.committed(tps).map { ($0.key.partition, $0.value) })
}

/// Runs `userrep` with `args`, SIGKILLs it once `outputs` vectors are on the output topic, then runs
/// it again with `--stop-when-caught-up`; expects the first to die by the signal and the second to
/// finish with status 0.
func killOnceThenFinish(_ binary: URL, _ args: [String], env: EmbeddedEnvironment, afterOutputs outputs: Int) throws {
    let first = try Process.run(binary, arguments: args)
    let subscriber = try OutputSubscriber(kafka: env.kafka, topic: env.topics.output, format: .protobuf, batchID: nil, fromBeginning: true)
    var seen = 0
    let deadline = Date().addingTimeInterval(120)
    while seen < outputs && first.isRunning && Date() < deadline { seen += try subscriber.poll(timeoutMs: 50).count }
    kill(first.processIdentifier, SIGKILL)
    first.waitUntilExit()
    #expect(first.terminationReason == .uncaughtSignal, "the worker was killed, not finished")
    let second = try Process.run(binary, arguments: args + ["--stop-when-caught-up"])
    second.waitUntilExit()
    #expect(second.terminationStatus == 0)
}
