// The userrep command line: stream worker, backfill, demo, benchmark, subscriber and tools.
import ArgumentParser

/// Root command.
@main
struct UserRep: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "userrep",
        abstract: "Keeps 120-dimensional user representations up to date from Kafka listen and onboarding events.",
        discussion: """
            Quick start (no Kafka needed): userrep demo
            Production: userrep topics create --bootstrap-servers kafka:9092
                        userrep tracks import --file tracks.utrk --bootstrap-servers kafka:9092
                        userrep run --bootstrap-servers kafka:9092 --model model/manifest.json
            """,
        subcommands: [
            RunCommand.self, BackfillCommand.self, DemoCommand.self, BenchCommand.self, SubscribeCommand.self,
            ModelCommand.self, TracksCommand.self, EventsCommand.self, FeaturesCommand.self, TrainCommand.self, EvaluateCommand.self,
            TopicsCommand.self, ClusterCommand.self, BatchesCommand.self,
        ]
    )

    /// Tunes the process, then parses the arguments and runs the command.
    static func main() {
        ProcessTuning.apply()
        main(nil)
    }
}
