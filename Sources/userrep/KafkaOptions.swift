// Command-line options shared by every command that talks to Kafka.
import ArgumentParser
import UserRepKafka

/// `--bootstrap-servers`, `-X key=value` (any librdkafka property, as in kcat) and `--kafka-config FILE`.
struct KafkaOptions: ParsableArguments {
    @Option(name: .long, help: "Kafka bootstrap servers (host:port,...).")
    var bootstrapServers: String = "localhost:9092"

    @Option(
        name: .customShort("X"),
        help: ArgumentHelp("librdkafka property key=value; repeatable (e.g. -X security.protocol=SASL_SSL).", valueName: "key=value"))
    var properties: [String] = []

    @Option(name: .long, help: "Java-style properties file of librdkafka settings; -X wins over it.")
    var kafkaConfig: String?

    /// The merged configuration: file, then -X, with --bootstrap-servers unless a property sets it.
    func configuration() throws -> KafkaConfiguration {
        var props: [String: String] = ["bootstrap.servers": bootstrapServers]
        if let kafkaConfig { props.merge(try KafkaConfiguration.load(propertiesFile: kafkaConfig)) { _, new in new } }
        for assignment in properties {
            let (k, v) = try KafkaConfiguration.parseAssignment(assignment)
            props[k] = v
        }
        return KafkaConfiguration(props)
    }
}

/// Topic-name options.
struct TopicOptions: ParsableArguments {
    @Option(help: "Listens topic.") var listensTopic = TopicNames().listens
    @Option(help: "Onboarding topic.") var onboardingTopic = TopicNames().onboarding
    @Option(help: "Track-embeddings topic (compacted).") var tracksTopic = TopicNames().tracks
    @Option(help: "Output topic (compacted).") var outputTopic = TopicNames().output
    @Option(help: "Dead-letter topic.") var deadLetterTopic = TopicNames().deadLetters
    @Option(help: "State changelog topic (compacted, as many partitions as the input; default <group-id>-state-changelog).")
    var changelogTopic: String?
    @Option(help: "Batch registry topic (compacted, one partition): which model batches are live.")
    var batchesTopic = TopicNames().batches

    var names: TopicNames {
        var t = TopicNames()
        t.listens = listensTopic
        t.onboarding = onboardingTopic
        t.tracks = tracksTopic
        t.output = outputTopic
        t.deadLetters = deadLetterTopic
        t.changelog = changelogTopic
        t.batches = batchesTopic
        return t
    }
}

extension OutputFormat: ExpressibleByArgument {}

import UserRepPipeline
