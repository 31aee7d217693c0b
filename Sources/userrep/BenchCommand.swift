// `userrep bench`: end-to-end throughput and latency on the embedded cluster.
import ArgumentParser
import Foundation
import Logging
import Synchronization
import UserRepKafka
import UserRepModel
import UserRepPipeline
import UserRepTesting
import UserRepState

/// Measures events/s on a backlog, encoder users/s, and latency at a fixed offered rate.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmark the worker end to end on the embedded cluster (or on brokers given with --bootstrap-servers).",
        discussion: """
            Phase 1 (backlog): produces --events listens, then runs the worker until it has read them \
            all, with durable state; reports events/s, encoder users/s and state written. After \
            phase 2, unless --no-kafka-alone, it replays only the backlog's Kafka traffic (the same \
            reads, and as many output and changelog records of the same sizes) to show what Kafka \
            alone costs.

            Phase 2 (fixed rate): once the backlog's worker has caught up (its due timers fired), \
            offers --rate listens/s for --seconds to it, and reports p50/p99 latency from each \
            event's produce time to its vector's delivery, for the whole phase and for each third \
            of it. With --restart-before-load a new worker takes the phase instead (its state cache \
            empty, as after a deploy), and the load starts once it holds its partitions.

            Reference model 483→512→256→120, 80+80-dimensional track embeddings.

            With --bootstrap-servers it runs on those brokers instead (a fresh cluster: the topics \
            must not exist yet), so that latency is not the embedded cluster's; \
            Tests/bench/real_broker.sh runs it on a local Tansu broker.

            Example:
              userrep bench --events 1000000 --rate 150000 --seconds 10
              userrep bench --events 600000 --users 100000 --rate 8000 --seconds 10 -X fetch.wait.max.ms=50
              userrep bench --events 300000 --users 100000 --rate 13000 --seconds 15 --bootstrap-servers 127.0.0.1:9092
            """
    )

    @OptionGroup var log: LogOptions
    @Option(help: "Backlog size (listens).") var events = 1_000_000
    @Option(help: "Offered rate for the latency phase (listens/s; 0 skips the phase).") var rate: Double = 150_000
    @Option(help: "Length of the latency phase in seconds.") var seconds: Double = 10
    @Option(help: "Distinct users.") var users = 200_000
    @Option(help: "Tracks.") var tracks = 20_000
    @Flag(inversion: .prefixedNo, help: "First time the encoder and the state codec alone.") var microbenchmarks = true
    @Option(
        help:
            "linger.ms of the fixed-rate phase's load producer: how long it gathers listens into a batch. Its record timestamps are taken at produce, so the wait counts in the latency. The embedded cluster returns one batch per partition per fetch and finds it by walking the partition's batches, so smaller batches cost it more."
    ) var loadLingerMs = 5
    @Option(help: "Kafka brokers to run on instead of the embedded cluster (host:port,...; their topics are created, and must not exist yet).")
    var bootstrapServers: String?
    @OptionGroup var cycle: CycleOptions
    @Flag(help: "Run the worker in transactional mode (each cycle one Kafka transaction).") var transactional = false
    @Flag(
        inversion: .prefixedNo,
        help:
            "After the backlog, replay its Kafka reads and writes alone (no parsing, state or encoder), to show what Kafka costs on this machine."
    )
    var kafkaAlone = true
    @Flag(
        help:
            "Run the fixed-rate phase a second time with the worker following a batch registry in which a new batch was just promoted, so that it re-encodes every user in the background (--batch-job-rate users/s) while the load runs."
    ) var reencode = false
    @Option(help: "With --reencode: users a second the re-encode handles.") var batchJobRate = 5_000.0
    @Flag(help: "Run the worker without event-time timers (no window_expiry re-encodes).") var noWindowTimers = false
    @Flag(
        help:
            "Run the fixed-rate phase on a newly started worker (on the backlog's state, with an empty state cache), as after a deploy, instead of in the backlog's worker once it has caught up."
    ) var restartBeforeLoad = false
    @Flag(
        inversion: .prefixedNo,
        help:
            "In the fixed-rate phase, stamp each listen with the backlog's last event time plus the wall time since the phase began, as a live stream's events are. --no-live-event-time continues the backlog's timeline instead (180 days over all listens), so the watermark sweeps weeks of event time in seconds and window timers re-encode up to 5,000 silent users a second beside the load."
    )
    var liveEventTime = true
    @Option(
        name: .customShort("X"),
        help: ArgumentHelp(
            "librdkafka property key=value for the worker's clients; repeatable (e.g. -X linger.ms=1 to see what a setting changes).",
            valueName: "key=value"))
    var properties: [String] = []

    func run() throws {
        let logger = try log.logger("userrep.bench", quiet: true)
        let settings = SyntheticGenerator.Settings(users: users, tracks: tracks)
        var generator = SyntheticGenerator(settings: settings)
        let latencyEvents = Int(rate * seconds)
        let offered = latencyEvents * (reencode ? 2 : 1)
        let partitions = TopicPlan.embeddedPartitions(forBytes: (events + offered) * 160, minimum: 8)
        // At most one output per listen (a worker that keeps up coalesces little).
        let outputPartitions = TopicPlan.embeddedOutputPartitions(forRecords: events + offered, minimum: partitions)
        let env = try EmbeddedEnvironment(
            externalBootstrapServers: bootstrapServers, partitions: partitions, outputPartitions: outputPartitions, generator: generator)
        defer { env.cleanUp() }
        let onExternalBrokers = env.cluster == nil
        if microbenchmarks {
            try encoderMicrobench(env.model)
            stateCodecMicrobench(env.model)
            loadGeneratorMicrobench(generator)
        }
        print(
            "bench: \(partitions) partitions (output topic: \(outputPartitions)) on \(onExternalBrokers ? "the brokers at \(env.bootstrapServers)" : "the embedded cluster"), model \(env.model.manifest.layers), \(users) users, \(tracks) tracks"
        )

        // Phase 1: backlog.
        let producer = try KafkaProducer(configuration: env.kafka)
        let t0 = Date()
        // With live event time the backlog spans the generator's whole timeline and the load goes on from its end.
        try ListenLoad.produce(
            &generator, producer: producer, topic: env.topics.listens, count: events, total: liveEventTime ? events : events + latencyEvents)
        print(String(format: "produced %d listens in %.1fs", events, Date().timeIntervalSince(t0)))
        var config = try env.workerConfiguration()
        config.kafka = config.kafka.overriding(
            try Dictionary(properties.map { try KafkaConfiguration.parseAssignment($0) }, uniquingKeysWith: { _, new in new }))
        cycle.apply(to: &config)
        config.windowTimers = !noWindowTimers
        if transactional { config.transactionalID = "userrep-bench" }
        // Unless --restart-before-load, phase 2 runs in the backlog's worker once it has caught up,
        // its state cache as the backlog left it.
        let liveFromMs = liveEventTime ? settings.endTimeMs + 1 : nil
        let load =
            rate > 0 && !restartBeforeLoad
            ? fixedRateLoad(env: env, generator: generator, first: events, count: latencyEvents, liveFromMs: liveFromMs) : nil
        let cpuBefore = ProcessCPU.seconds()
        let threadsBefore = ThreadCPU.now()
        var backlog: WorkerMetrics?
        var backlogCPU = 0.0
        var liveStart: (cpu: Double, threads: ThreadCPU)?
        // The worker is released at the end of this block, closing its state store for the phases
        // after it; its threads' CPU is read before, so that it shows in their groups.
        let rest: WorkerMetrics
        var liveCPU: (seconds: Double, byThread: [ThreadCPU.Group: Double])?
        do {
            let worker = try StreamWorker(configuration: config, model: env.model, logger: logger)
            worker.onCaughtUp = { [unowned worker] m in
                backlog = m
                backlogCPU = ProcessCPU.seconds() - cpuBefore
                printBacklog(m, byThread: ThreadCPU.now().since(threadsBefore), cpu: backlogCPU, onExternalBrokers: onExternalBrokers)
                guard let load else { return }
                worker.recordLatency = true
                liveStart = (ProcessCPU.seconds(), ThreadCPU.now())
                load.start()
            }
            rest = try worker.run(until: .whenCaughtUp(gate: { load?.finished ?? true }))
            liveCPU = liveStart.map { (ProcessCPU.seconds() - $0.cpu, ThreadCPU.now().since($0.threads, load: load?.producerThreads ?? [])) }
        }
        guard let backlog else { throw ValidationError("the worker stopped before it had read the backlog") }
        try load?.release()
        if let liveCPU { printFixedRate(rest, byThread: liveCPU.byThread, cpu: liveCPU.seconds, reencodeOf: nil) }
        let outputs = try env.admin().watermarks(topic: env.topics.output).values.reduce(0) { $0 + $1.high - $1.low }
        let published = backlog.outputsPublished + rest.outputsPublished
        print(
            "output records: \(backlog.outputsPublished) published for the backlog\(load == nil ? "" : " and \(rest.outputsPublished) at the fixed rate"), \(outputs) on the topic; dead letters: \(backlog.deadLetterTotal + rest.deadLetterTotal)"
        )
        // The embedded cluster drops the oldest records of a full partition; a count short of what
        // was delivered means the sizing is wrong. (External brokers are not checked: Tansu 0.x
        // reports high watermarks below the records it holds.)
        guard onExternalBrokers || Int64(published) == outputs else {
            throw ValidationError("output count mismatch: \(published) delivered, \(outputs) on the topic")
        }
        if kafkaAlone { try kafkaAloneBench(env: env, worker: backlog, workerCPUSeconds: backlogCPU) }

        // Phase 2 on a restarted worker (and again during a re-encode).
        if rate > 0 && restartBeforeLoad {
            try fixedRate(
                env: env, config: config, generator: generator, first: events, count: latencyEvents, liveFromMs: liveFromMs, logger: logger,
                reencodeOf: nil)
        }
        if rate > 0 && reencode {
            // A second batch, promoted in a registry: the worker re-encodes every stored user for it
            // while the same load as above runs.
            let (manifest, weights) = ModelFactory.random(
                batchID: "bench-b2", embeddingBatchID: settings.embeddingBatchID, dims: settings.dims, seed: 2)
            let b2 = try ModelFactory.write(manifest: manifest, weights: weights, to: env.directory.appendingPathComponent("model-b2"))
            try env.createTopic(env.topics.output(forBatch: "bench-b2"), partitions: outputPartitions)
            try BatchRegistryAdmin(kafka: env.kafka, topics: env.topics, logger: logger).promote(modelAt: b2.path)
            var registryConfig = config
            registryConfig.batchJobUsersPerSecond = batchJobRate
            try fixedRate(
                env: env, config: registryConfig, generator: generator, first: events + latencyEvents, count: latencyEvents,
                liveFromMs: liveEventTime ? settings.endTimeMs + 1 + Int64(seconds * 1000) : nil, logger: logger, reencodeOf: "bench-b2")
        }
        try env.verifyNothingDropped(changelog: false)
        print("nothing dropped by the \(onExternalBrokers ? "brokers" : "embedded cluster")")
    }

    /// The backlog's lines: events/s, stages, CPU (also by thread), state written, encoder.
    func printBacklog(_ m: WorkerMetrics, byThread: [ThreadCPU.Group: Double], cpu: Double, onExternalBrokers: Bool) {
        let eps = Double(m.recordsRead) / max(m.processingSeconds, 1e-9)
        let encodeRate = Double(m.usersEncoded) / max(m.encodeSeconds, 1e-9)
        print(
            String(
                format: "backlog: %d events in %.2fs = %.0f events/s end to end; %d cycles, the largest writing %.1f MB of state",
                m.recordsRead, m.processingSeconds, eps, m.cycles, Double(m.largestCycleStateBytes) / 1e6))
        print("stages: \(m.stageSummary)")
        print(
            String(
                format:
                    "cpu: %.1f s while processing (worker, its clients%@) = %.2f of %d cores busy, %.1f µs per event; %.1f s for the whole run (start-up and the timers due at the end included)",
                m.processingCPUSeconds, onExternalBrokers ? ", not the brokers" : " and the embedded cluster",
                m.processingCPUSeconds / max(m.processingSeconds, 1e-9),
                ProcessInfo.processInfo.activeProcessorCount, m.processingCPUSeconds / Double(max(1, m.recordsRead)) * 1e6, cpu))
        printByThread(byThread, processCPU: cpu, events: m.recordsRead)
        let updates = Double(max(1, m.usersEncoded))
        print(
            String(
                format:
                    "state per user update: %.0f bytes to RocksDB, %.0f bytes in %.2f records to the changelog (%.1f and %.1f MB in all); %d states looked up in RocksDB (not cached, or new)",
                Double(m.stateBytesWritten) / updates, Double(m.changelogBytes) / updates, Double(m.changelogRecords) / updates,
                Double(m.stateBytesWritten) / 1e6, Double(m.changelogBytes) / 1e6, m.stateCacheMisses))
        print(String(format: "encoder: %d users in %.2fs = %.0f users/s", m.usersEncoded, m.encodeSeconds, encodeRate))
    }

    /// The fixed-rate load of `count` listens from index `first` (not yet started).
    func fixedRateLoad(env: EmbeddedEnvironment, generator: SyntheticGenerator, first: Int, count: Int, liveFromMs: Int64?) -> FixedRateLoad {
        FixedRateLoad(
            kafka: env.kafka, topic: env.topics.listens, generator: generator, first: first, count: count, total: first + count, rate: rate,
            lingerMs: loadLingerMs, liveFromMs: liveFromMs)
    }

    /// Offers `count` listens (from index `first`) at --rate while a newly started worker runs;
    /// prints latency. With `liveFromMs`, their event times run on from it with the wall clock.
    /// With `reencodeOf`, the worker follows the registry and re-encodes that batch meanwhile.
    func fixedRate(
        env: EmbeddedEnvironment, config: WorkerConfiguration, generator: SyntheticGenerator, first: Int, count: Int,
        liveFromMs: Int64?, logger: Logger, reencodeOf batch: String?
    ) throws {
        let load = fixedRateLoad(env: env, generator: generator, first: first, count: count, liveFromMs: liveFromMs)
        let live = try StreamWorker(configuration: config, models: batch == nil ? .fixed(env.model) : .registry(), logger: logger)
        live.recordLatency = true
        // The offered load starts once the worker has joined the group and holds its partitions,
        // so latency measures processing, not the group join.
        live.onAssigned = { _ in load.start() }
        let cpuBefore = ProcessCPU.seconds()
        let threadsBefore = ThreadCPU.now()
        let lm = try live.run(until: .whenCaughtUp(gate: { load.finished }))
        let byThread = ThreadCPU.now().since(threadsBefore, load: load.producerThreads)
        let cpu = ProcessCPU.seconds() - cpuBefore
        try load.release()
        printFixedRate(lm, byThread: byThread, cpu: cpu, reencodeOf: batch)
    }

    /// The fixed-rate phase's lines: latency (whole and by third), cycles, work and CPU by thread.
    func printFixedRate(_ lm: WorkerMetrics, byThread: [ThreadCPU.Group: Double], cpu: Double, reencodeOf batch: String?) {
        let achieved = Double(lm.recordsRead) / max(lm.processingSeconds, 1e-9)
        print(
            String(
                format: "fixed rate%@: offered %.0f/s in %d ms batches, processed %d events at %.0f/s; latency p50 %.1f ms, p99 %.1f ms, max %.1f ms",
                batch.map { " during the re-encode of \($0)" } ?? "", rate, loadLingerMs, lm.recordsRead, achieved, lm.latencyPercentile(50) ?? -1,
                lm.latencyPercentile(99) ?? -1,
                lm.latencyPercentile(100) ?? -1))
        // A restarted worker starts with an empty state cache (and a user's first event of the run
        // reads RocksDB), so the thirds show its warm-up apart from the steady state.
        let thirds = (0..<3).map { i in
            String(format: "p50 %.0f / p99 %.0f", lm.latencyPercentile(50, part: (i, 3)) ?? -1, lm.latencyPercentile(99, part: (i, 3)) ?? -1)
        }
        print("latency by third of the run (ms): " + thirds.joined(separator: ", "))
        print(
            String(
                format: "fixed-rate cycles: %d (%.0f events each); stages: %@", lm.cycles,
                Double(lm.recordsRead) / Double(max(1, lm.cycles)), lm.stageSummary))
        print(
            String(
                format:
                    "fixed-rate work: %.2f encodes per event (%d window timers fired, %d stale); %d states looked up in RocksDB; cpu %.1f s while processing = %.1f µs per event",
                Double(lm.usersEncoded) / Double(max(1, lm.recordsRead)), lm.timersFired, lm.timersStale, lm.stateCacheMisses,
                lm.processingCPUSeconds, lm.processingCPUSeconds / Double(max(1, lm.recordsRead)) * 1e6))
        // The load producer's librdkafka threads count as the load, not among the "kafka clients".
        printByThread(byThread, processCPU: cpu, events: lm.recordsRead, label: "fixed-rate ")
        if batch != nil {
            print(
                String(
                    format: "re-encode: %d users in %d per-partition jobs, within a %.1f s run", lm.usersReencoded, lm.batchJobsCompleted,
                    lm.elapsedSeconds))
        }
    }

    /// One line of CPU per thread group over a run of `events` (nothing off Linux).
    func printByThread(_ byThread: [ThreadCPU.Group: Double], processCPU cpu: Double, events: Int, label: String = "") {
        guard !byThread.isEmpty else { return }
        let perEvent = { (seconds: Double) in seconds / Double(max(1, events)) * 1e6 }
        let groups = ThreadCPU.Group.allCases.map { g in
            g.rawValue + String(format: " %.1f s (%.1f µs)", byThread[g] ?? 0, perEvent(byThread[g] ?? 0))
        }
        let ended = max(0, cpu - byThread.values.reduce(0, +))
        print(
            "\(label)cpu per event by thread: " + groups.joined(separator: ", ")
                + String(format: ", threads that ended %.1f s (%.1f µs)", ended, perEvent(ended)))
    }

    /// The backlog's Kafka traffic without the worker's work: events/s and CPU per event.
    func kafkaAloneBench(env: EmbeddedEnvironment, worker m: WorkerMetrics, workerCPUSeconds: Double) throws {
        var sample: [UInt8] = []
        [Float](repeating: 0.5, count: env.model.outputSize).withUnsafeBufferPointer { vector in
            RepresentationWireWriter.write(
                userID: Array("user-123456".utf8), batchID: Array(env.model.batchID.utf8),
                embeddingBatchID: Array(env.model.manifest.embeddingBatchId.utf8),
                vector: vector, eventTimeMs: 1_790_000_000_000, computeTimeMs: 1_790_000_000_000, updateSequence: 3, trigger: .listen,
                into: &sample)
        }
        let traffic = KafkaAloneBench.Traffic(
            events: m.recordsRead, recordsPerEvent: Double(m.usersEncoded) / Double(max(1, m.recordsRead)),
            outputBytes: sample.count, changelogRecordsPerOutput: Double(m.changelogRecords) / Double(max(1, m.usersEncoded)),
            changelogBytes: m.changelogBytes / max(1, m.changelogRecords))
        let r = try KafkaAloneBench(env: env, maxPollRecords: cycle.maxPollRecords).run(traffic)
        print(
            String(
                format:
                    "kafka alone (the backlog's reads, and %d output + %d changelog records of %d and %d bytes): %.0f events/s; cpu %.1f s = %.1f µs per event (worker run: %.1f µs)",
                r.recordsWritten, r.changelogRecordsWritten, traffic.outputBytes, traffic.changelogBytes, Double(traffic.events) / max(r.seconds, 1e-9),
                r.cpuSeconds, r.cpuSeconds / Double(traffic.events) * 1e6, workerCPUSeconds / Double(traffic.events) * 1e6))
    }

    /// The encoder alone on random inputs: users/s and where the time goes.
    func encoderMicrobench(_ model: EncoderModel) throws {
        for (rows, rounds) in [(10_000, 5), (128, 200), (16, 1_000), (8, 2_000), (4, 3_000), (2, 4_000)] { encoderMicrobench(model, rows: rows, rounds: rounds) }
    }

    /// State serialization alone: 50k states of four tiles, one thread and all of them.
    func stateCodecMicrobench(_ model: EncoderModel) {
        var state = UserState(width: model.layout.listenWidth)
        var rng = SplitMix64(seed: 3)
        let vector = (0..<model.layout.listenWidth).map { _ in rng.nextGaussian() }
        for day in [0, 1, 20, 90] {
            vector.withUnsafeBufferPointer { state.applyListen(timeMs: 1_790_000_000_000 - Int64(day) * 86_400_000, vector: $0) }
        }
        let states = [UserState](repeating: state, count: 50_000)
        for t in [1, cycle.threads] {
            var encoded = EncodedStates()
            let start = Date()
            encoded.encode(states, previous: nil, threads: t)
            let elapsed = Date().timeIntervalSince(start)
            print(
                String(
                    format: "state codec alone, %d thread(s): %.0f states/s (%.0f MB/s, %d bytes each)",
                    t, Double(states.count) / elapsed, Double(encoded.byteCount) / elapsed / 1e6, encoded.byteCount / states.count))
        }
    }

    /// The fixed-rate load's own work alone (drawing listens and writing their JSON), on one
    /// thread: what the load generator takes from the worker's cores besides its producer.
    func loadGeneratorMicrobench(_ generator: SyntheticGenerator) {
        var g = generator
        let count = 200_000
        var bytes = 0
        let start = Date()
        for i in 0..<count { bytes += g.listen(atMs: 1_790_000_000_000 + Int64(i)).json().count }
        let elapsed = Date().timeIntervalSince(start)
        print(
            String(
                format: "load generator alone: %.0f listens/s (%.2f µs each, %d bytes of JSON on average)", Double(count) / elapsed,
                elapsed / Double(count) * 1e6, bytes / count))
    }

    /// One encoder measurement: `rounds` batches of `rows` random users.
    func encoderMicrobench(_ model: EncoderModel, rows: Int, rounds: Int) {
        var rng = SplitMix64(seed: 5)
        let input = (0..<(rows * model.inputSize)).map { _ in rng.nextGaussian() }
        var timing = EncoderTiming()
        let start = Date()
        for _ in 0..<rounds {
            var x = input
            _ = model.encode(rows: rows, input: &x, timing: &timing)
        }
        let elapsed = Date().timeIntervalSince(start)
        let flops =
            2.0 * Double(zip(model.manifest.layers, model.manifest.layers.dropFirst()).reduce(0) { $0 + $1.0 * $1.1 })
            * Double(rows * rounds)
        print(
            String(
                format:
                    "encoder alone, %d-user batches: %.0f users/s (%.1f GFLOP/s in GEMM); gemm %.2fs, activation %.2fs, normalize %.2fs, other %.2fs",
                rows, Double(rows * rounds) / elapsed, flops / timing.gemmSeconds / 1e9, timing.gemmSeconds, timing.activationSeconds,
                timing.normalizeSeconds, elapsed - timing.gemmSeconds - timing.activationSeconds - timing.normalizeSeconds))
    }
}
