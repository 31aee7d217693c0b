// `userrep topics`: create the topics a deployment needs.
import ArgumentParser
import UserRepKafka
import UserRepPipeline

/// Topic administration.
struct TopicsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "topics",
        abstract: "Create userrep's topics on a Kafka cluster.",
        subcommands: [Create.self]
    )

    /// Creates missing topics; existing ones are left as they are.
    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create the listens, onboarding, track-embeddings, output, dead-letter and state-changelog topics.",
            discussion: """
                Track embeddings, output and the changelog are compacted. The changelog belongs to a \
                consumer group (<group-id>-state-changelog) and has as many partitions as the input.

                Example:
                  userrep topics create --bootstrap-servers kafka:9092 --partitions 24 --replication-factor 3
                """
        )
        @OptionGroup var kafka: KafkaOptions
        @OptionGroup var topics: TopicOptions
        @Option(help: "Input partitions (the unit of scale-out).") var partitions = 12
        @Option(help: "Replication factor (-1: broker default).") var replicationFactor = -1
        @Option(help: "Consumer group of the workers (names the changelog topic).") var groupId = WorkerConfiguration.defaultGroupID

        func run() throws {
            let admin = try KafkaAdmin(configuration: try kafka.configuration())
            let created = try admin.createTopics(
                TopicPlan.specs(topics.names, partitions: partitions, groupID: groupId, replicationFactor: replicationFactor))
            print(created.isEmpty ? "all topics already exist" : "created \(created.joined(separator: ", "))")
        }
    }
}
