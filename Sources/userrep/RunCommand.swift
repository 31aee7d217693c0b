// `userrep run`: the long-running stream worker.
import ArgumentParser
import Foundation
import UserRepModel
import Prometheus
import UserRepPipeline
import UserRepServer

/// Runs a stream worker in a consumer group until SIGINT/SIGTERM.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a stream worker: listens and onboarding events in, user representations out.",
        discussion: """
            Joins consumer group --group-id on the listens and onboarding topics (which must have the \
            same partition count); start more workers with the same group to scale out. Every state \
            change goes to the group's compacted changelog (<group-id>-state-changelog) before the local \
            RocksDB and the group offsets are written, so a worker taking over a partition restores its \
            users from the changelog, and records read twice are skipped: each event counts exactly once \
            across crashes and rebalances. SIGINT/SIGTERM finish the cycle and leave the group cleanly \
            within --shutdown-timeout. Exit status: 0 stopped cleanly; 75 stopped with Kafka unreachable \
            (state flushed locally, group offsets not committed); 1 error (misconfiguration, storage \
            or delivery failure: see the log); 130 forced by a second signal.

            With --registry instead of --model, the worker publishes the live batches of the batch \
            registry (`userrep batches`), each to its own topic, and re-encodes its users for a newly \
            promoted batch in the background (--batch-job-rate users/s).

            Event-time timers: when a tile of a silent user's window leaves its horizon (their \
            1-week window empties, say) and the watermark of their partition (its newest event time) \
            passes that moment, the user gets a vector as of the watermark (trigger window_expiry, \
            at most --timer-rate users/s; with --stop-when-caught-up, the timers still due once the \
            input is read to its end fire without that limit, a second's worth a step).

            --metrics-port P serves Prometheus metrics on http://HOST:P/metrics and the probes \
            /healthz (the worker loop comes round) and /readyz (Kafka reachable and reading); see \
            schemas/metrics.md.

            Example:
              userrep run --bootstrap-servers kafka:9092 --model models/b42/manifest.json \\
                --state-dir /var/lib/userrep --group-id userrep -X security.protocol=SSL
              userrep run --bootstrap-servers kafka:9092 --registry --state-dir /var/lib/userrep --metrics-port 9464
            """
    )

    @OptionGroup var kafka: KafkaOptions
    @OptionGroup var topics: TopicOptions
    @OptionGroup var log: LogOptions
    @Option(help: "Model manifest (JSON beside its safetensors weights); publishes that one batch to --output-topic.")
    var model: String?
    @Flag(
        help:
            "Publish the batch registry's live batches instead (current and legacy, each to <output-topic>.<batch-id>), following `userrep batches` changes without a restart."
    ) var registry = false
    @Option(
        help:
            "With --registry: the embedding batch of this worker's state (default: the existing state's, else the current batch's); a group of a new embedding batch starts with its staged batch."
    )
    var embeddingBatch: String?
    @Option(help: "With --registry: most users a second re-encoded (or tombstoned) by batch jobs.") var batchJobRate = 5_000.0
    @Option(
        help: "With --registry: users per batch-job step, each followed by a progress record (a crash or rebalance redoes at most one).")
    var batchJobPage = 500
    @Option(help: "Most users a second re-encoded by event-time timers (trigger window_expiry) while input may still come.")
    var timerRate = 5_000.0
    @Flag(help: "Keep no event-time timers: a silent user's vector stays as of their newest event.") var noWindowTimers = false
    @Option(help: "Serve Prometheus /metrics and the /healthz and /readyz probes on this port (none by default).")
    var metricsPort: Int?
    @Option(help: "Address the metrics endpoint listens on.") var metricsHost = "0.0.0.0"
    @Option(help: "State directory (RocksDB).") var stateDir = "./userrep-state"
    @Option(help: "Consumer group id.") var groupId = WorkerConfiguration.defaultGroupID
    @Option(help: "Output value format: protobuf or json.") var outputFormat = OutputFormat.protobuf
    @OptionGroup var cycle: CycleOptions
    @OptionGroup var safety: SafetyOptions
    @Flag(help: "Exit once every assigned partition is read to its end (for batch jobs and tests).") var stopWhenCaughtUp = false
    @Option(help: "File kept present while the worker is ready (for exec readiness probes).") var readyFile: String?
    @Option(help: "Seconds without an answer from Kafka before the worker reports itself not ready.") var unreachableTimeout = 60
    @Option(help: "Exit after a cycle that brings the records read to at least this many.") var maxRecords: Int?
    @Option(
        help:
            "Make each cycle one Kafka transaction with this transactional.id, unique and stable per worker (e.g. the pod name); fences zombies."
    ) var transactionalId: String?

    func validate() throws {
        guard (model != nil) != registry else { throw ValidationError("give either --model or --registry") }
        guard embeddingBatch == nil || registry else { throw ValidationError("--embedding-batch needs --registry") }
        guard batchJobRate > 0, timerRate > 0 else { throw ValidationError("--batch-job-rate and --timer-rate must be positive") }
        guard (1...100_000).contains(batchJobPage) else {
            throw ValidationError("--batch-job-page must be 1 to 100000 users, got \(batchJobPage)")
        }
    }

    func run() throws {
        let logger = try log.logger("userrep.run")
        let models: ModelSource
        if let model {
            let loaded = try EncoderModel.load(manifestURL: URL(fileURLWithPath: model))
            models = .fixed(loaded)
            logger.info(
                "starting worker",
                metadata: ["batch": "\(loaded.batchID)", "embedding_batch": "\(loaded.manifest.embeddingBatchId)", "group": "\(groupId)"])
        } else {
            models = .registry(embeddingBatchID: embeddingBatch)
            logger.info("starting worker", metadata: ["registry": "\(topics.names.batches)", "group": "\(groupId)"])
        }
        var config = WorkerConfiguration(kafka: try kafka.configuration(), stateDirectory: stateDir)
        config.groupID = groupId
        config.topics = topics.names
        config.outputFormat = outputFormat
        cycle.apply(to: &config)
        safety.apply(to: &config)
        config.readyFile = readyFile
        config.afterCycle = ProcessTuning.returnFreedMemory
        config.transactionalID = transactionalId
        config.unreachableTimeoutMs = unreachableTimeout * 1000
        let stop = StopFlag()
        stop.trapSignals()
        config.batchJobUsersPerSecond = batchJobRate
        config.batchJobPageUsers = batchJobPage
        config.timerUsersPerSecond = timerRate
        config.windowTimers = !noWindowTimers
        let worker = try StreamWorker(configuration: config, models: models, logger: logger, shouldStop: { stop.isSet })
        var server: MetricsServer?
        if let metricsPort {
            let registry = PrometheusCollectorRegistry()
            worker.metricsFactory = PrometheusMetricsFactory(registry: registry)
            server = try MetricsServer(host: metricsHost, port: metricsPort, registry: registry, status: worker.status)
            logger.info("serving /metrics, /healthz and /readyz", metadata: ["address": "\(metricsHost):\(server?.port ?? metricsPort)"])
        }
        defer { server?.close() }
        let condition: StreamWorker.StopCondition = maxRecords.map { .afterRecords($0) } ?? (stopWhenCaughtUp ? .whenCaughtUp() : .never)
        let metrics = try worker.run(until: condition)
        print(metrics.summary)
        // 0: state flushed and the group's offsets committed; 75: state flushed, but Kafka did
        // not answer in time (the group steps were skipped; a restart resumes from local state).
        if !worker.stopReport.groupCommitted || !worker.stopReport.groupLeft {
            FileHandle.standardError.write(
                Data("stopped with Kafka unreachable: state flushed locally, group offsets not confirmed (exit 75)\n".utf8))
            throw ExitCode(exitStateFlushedGroupNotCommitted)
        }
    }
}
