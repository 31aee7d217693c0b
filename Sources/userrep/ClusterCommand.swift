// `userrep cluster`: the embedded Kafka-protocol cluster as a process of its own, for scripts.
import ArgumentParser
import Foundation
import UserRepKafka
import UserRepPipeline
import UserRepTesting

/// Runs librdkafka's built-in cluster until SIGINT/SIGTERM, so that separate `userrep` commands
/// (events import, backfill, run, subscribe) can share it without a Kafka installation.
struct ClusterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster",
        abstract: "Run the embedded Kafka-protocol cluster until stopped, for scripts and trials.",
        discussion: """
            Creates the worker's topics (and any --topic NAME) with --partitions partitions each, \
            writes the bootstrap servers to --bootstrap-file once it is ready (whole: written to a \
            temporary file and renamed), prints them, and runs until SIGINT or SIGTERM. Everything \
            is in memory and gone when it stops; each partition keeps only about 5 MiB, so give \
            large replays more partitions.

            Example:
              userrep cluster --bootstrap-file /tmp/kafka --topic listens-replay --partitions 8 &
              while [ ! -s /tmp/kafka ]; do sleep 0.1; done
              userrep events import --file listens.jsonl --topic listens-replay --bootstrap-servers "$(cat /tmp/kafka)"
            """
    )

    @Option(help: "Partitions of every topic created.") var partitions = 8
    @Option(help: "Brokers.") var brokers = 1
    @Option(help: "Another topic to create (repeatable).") var topic: [String] = []
    @Option(help: "File to write the bootstrap servers to once the cluster is ready.") var bootstrapFile: String?

    func run() throws {
        guard partitions > 0, brokers > 0 else { throw ValidationError("--partitions and --brokers must be positive") }
        let cluster = try EmbeddedKafkaCluster(brokers: brokers)
        let names = TopicNames()
        // The worker's topics as `topics create` plans them (the registry with one partition),
        // every other one with --partitions.
        let planned = TopicPlan.specs(names, partitions: partitions).map { spec in
            spec.name == names.tracks ? KafkaTopicSpec(name: spec.name, partitions: partitions, configs: spec.configs) : spec
        }
        try TopicPlan.create(planned + topic.map { KafkaTopicSpec(name: $0, partitions: partitions) }, on: cluster)
        if let bootstrapFile {
            let url = URL(fileURLWithPath: bootstrapFile)
            try Data(cluster.bootstrapServers.utf8).write(to: url, options: .atomic)
        }
        FileHandle.standardOutput.write(
            Data("embedded Kafka cluster at \(cluster.bootstrapServers) (\(partitions) partitions per topic); stop with Ctrl-C\n".utf8))
        let stop = StopFlag()
        stop.trapSignals()
        while !stop.isSet { usleep(100_000) }
        if let bootstrapFile { try? FileManager.default.removeItem(atPath: bootstrapFile) }
    }
}
