// `userrep backfill`: rebuild state from a replay topic and publish each user's final vector.
import ArgumentParser
import Foundation
import UserRepModel
import UserRepPipeline

/// Replays a topic from its beginning to its end as of start-up, then exits.
struct BackfillCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backfill",
        abstract: "Replay historical listens into state and publish every touched user's final vector once.",
        discussion: """
            Reads every partition of --replay-topic (event-time ordered per user), and of \
            --onboarding-replay-topic if given, up to the end they have when the backfill starts, builds state in --state-dir, then publishes one vector per touched \
            user (trigger backfill) and exits 0. Shows events/s, done/total and ETA on standard error. \
            An interrupted backfill resumes where its state ends.

            With --until TIME the state holds every user as of that event time (a point-in-time \
            state to export training features from: `userrep features export`); add --no-publish so \
            that those past vectors do not reach the live output topic.

            Example:
              userrep backfill --bootstrap-servers kafka:9092 --replay-topic listens-replay \\
                --model models/b43/manifest.json --state-dir /var/lib/userrep-b43
              userrep backfill --bootstrap-servers kafka:9092 --replay-topic listens-replay \\
                --model models/b43/manifest.json --state-dir train-state --until 2024-05-01T00:00:00Z --no-publish
            """
    )

    @OptionGroup var kafka: KafkaOptions
    @OptionGroup var topics: TopicOptions
    @OptionGroup var log: LogOptions
    @Option(help: "Topic of historical listens to replay.") var replayTopic: String
    @Option(help: "Topic of historical onboarding events to replay alongside (same partition count, keyed by user).")
    var onboardingReplayTopic: String?
    @Option(help: "Model manifest.") var model: String
    @Option(help: "State directory to build.") var stateDir = "./userrep-backfill-state"
    @Option(help: "Output value format: protobuf or json.") var outputFormat = OutputFormat.protobuf
    @Option(
        help:
            "Apply only events at or before this event time (ISO 8601, e.g. 2024-05-01T00:00:00Z, or ms since the epoch); later ones are read and left out, and the summary counts them (after_until=N)."
    )
    var until: EventTimeArgument?
    @Flag(help: "Build the state only: publish no vectors at the end.") var noPublish = false
    @OptionGroup var cycle: CycleOptions
    @OptionGroup var safety: SafetyOptions

    func run() throws {
        let logger = try log.logger("userrep.backfill")
        let model = try EncoderModel.load(manifestURL: URL(fileURLWithPath: self.model))
        var config = WorkerConfiguration(kafka: try kafka.configuration(), stateDirectory: stateDir)
        config.topics = topics.names
        config.groupID = "userrep-backfill-\(model.batchID)"
        config.outputFormat = outputFormat
        cycle.apply(to: &config)
        safety.apply(to: &config)
        config.untilMs = until?.ms
        config.backfillPublishes = !noPublish
        let stop = StopFlag()
        stop.trapSignals()
        let worker = try StreamWorker(
            configuration: config, model: model, mode: .backfill(topic: replayTopic, onboarding: onboardingReplayTopic), logger: logger,
            shouldStop: { stop.isSet })
        worker.progress = { line in FileHandle.standardError.write(Data((line + "\n").utf8)) }
        let metrics = try worker.run()
        if stop.isSet { throw ExitCode(130) }
        print(metrics.summary)
    }
}
