// `userrep backfill`: rebuild state from a replay topic and publish each user's final vector.
import ArgumentParser
import Foundation
import UserRepModel
import UserRepPipeline

/// Replays a topic from its beginning to its end as of start-up, then exits.
struct BackfillCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backfill",
        abstract: "Replay historical listens into state and publish every user's final vector once.",
        discussion: """
            Reads every partition of --replay-topic (event-time ordered per user), and of \
            --onboarding-replay-topic if given, up to the end they have when the backfill starts, builds state in --state-dir, then publishes one vector per user \
            of the state (trigger backfill) and exits 0. Shows events/s, done/total and ETA on standard error. \
            An interrupted backfill resumes where its state ends, and its final vectors cover every user.

            With --until TIME the state holds every user as of that event time (a point-in-time \
            state to export training features from: `userrep features export`); add --no-publish so \
            that those past vectors do not reach the live output topic.

            With --seed-group G and --until T the backfill builds the state a new stream group G \
            starts from (a new embedding batch's group, say, while the live batches keep serving): \
            when it ends, every user's state goes to G's changelog (<G>-state-changelog, which must \
            exist, empty, partitioned like --listens-topic: `userrep topics create --group-id G`) \
            marked with T, and nothing is published. G's workers (`userrep run --group-id G \
            --state-dir` this directory, or any other: they restore from the changelog) read the \
            live topics from their start and apply only events after T (the summary counts the \
            rest as before_hand_off=N). The replay topic must be partitioned like the live topics.

            Example:
              userrep backfill --bootstrap-servers kafka:9092 --replay-topic listens-replay \\
                --model models/b43/manifest.json --state-dir /var/lib/userrep-b43
              userrep backfill --bootstrap-servers kafka:9092 --replay-topic listens-replay \\
                --model models/b43/manifest.json --state-dir train-state --until 2024-05-01T00:00:00Z --no-publish
              userrep backfill --bootstrap-servers kafka:9092 --replay-topic listens-replay \
                --model /models/b50/manifest.json --tracks-topic track-embeddings.emb-8 \
                --state-dir /var/lib/userrep-emb-8 --until 2026-12-01T00:00:00Z --seed-group userrep-emb-8
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
    @Option(
        help:
            "Seed stream group G: write the final states to G's changelog with --until as the hand-off time (G's workers add only later live events); publishes nothing."
    )
    var seedGroup: String?
    @OptionGroup var cycle: CycleOptions
    @OptionGroup var safety: SafetyOptions

    func validate() throws {
        if seedGroup != nil && until == nil {
            throw ValidationError(
                "--seed-group needs --until: the hand-off time between the replay (events at or before it) and the live topics (events after it)"
            )
        }
    }

    func run() throws {
        let logger = try log.logger("userrep.backfill")
        let model = try EncoderModel.load(manifestURL: URL(fileURLWithPath: self.model))
        var config = WorkerConfiguration(kafka: try kafka.configuration(), stateDirectory: stateDir)
        config.afterCycle = ProcessTuning.returnFreedMemory
        config.topics = topics.names
        config.groupID = "userrep-backfill-\(model.batchID)"
        config.outputFormat = outputFormat
        cycle.apply(to: &config)
        safety.apply(to: &config)
        config.untilMs = until?.ms
        config.backfillPublishes = !noPublish && seedGroup == nil
        config.seedGroupID = seedGroup
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
