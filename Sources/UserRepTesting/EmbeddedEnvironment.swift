// A complete userrep setup on the embedded cluster (or on brokers the caller runs): topics, a
// model on disk, the track catalogue.
import Foundation
import UserRepKafka
import UserRepModel
import UserRepPipeline

/// Everything `demo`, `bench` and the end-to-end tests need before a worker starts.
public final class EmbeddedEnvironment {
    /// The in-process cluster; nil when the environment runs on external brokers.
    public let cluster: EmbeddedKafkaCluster?
    /// Where the clients connect: the in-process cluster's listeners or the external brokers.
    public let bootstrapServers: String
    /// Client properties pointing at it.
    public let kafka: KafkaConfiguration
    /// Topic names.
    public let topics: TopicNames
    /// Partitions of the input topics (and of every changelog).
    public let partitions: Int
    /// Scratch directory (model, state); removed by `cleanUp()`.
    public let directory: URL
    /// The model's manifest file.
    public let manifestURL: URL
    /// The loaded model.
    public let model: EncoderModel
    /// Changelog topics created so far (checked by `verifyNothingDropped`).
    private var createdChangelogs: [String] = []
    /// A new admin client (not kept, so no client outlives the cluster it talks to).
    public func admin() throws -> KafkaAdmin { try KafkaAdmin(configuration: kafka) }

    /// Starts a cluster (or, with `externalBootstrapServers`, uses the brokers there, which must
    /// not have the environment's topics yet), creates topics with `partitions` input partitions
    /// (and `outputPartitions` output partitions, by default as many), writes a random model (or
    /// uses `manifestURL`), and publishes the generator's catalogue to the track topic.
    public init(
        brokers: Int = 3, externalBootstrapServers: String? = nil, partitions: Int, outputPartitions: Int? = nil,
        generator: SyntheticGenerator, hidden: [Int] = [512, 256], manifestURL existingModel: URL? = nil,
        topics: TopicNames = TopicNames(), contextFeatures: Bool = false
    ) throws {
        // A short session timeout: a worker that dies is replaced within seconds (the default 45 s
        // is for real networks); everything here runs on one machine.
        var properties = ["session.timeout.ms": "6000", "heartbeat.interval.ms": "500"]
        if let externalBootstrapServers {
            cluster = nil
            bootstrapServers = externalBootstrapServers
        } else {
            let embedded = try EmbeddedKafkaCluster(brokers: brokers)
            cluster = embedded
            bootstrapServers = embedded.bootstrapServers
            // The embedded broker answers a fetch with no data only after its full wait, even if
            // records arrive meanwhile (a real broker answers as soon as they do); a short wait
            // keeps that artefact out of latency figures.
            properties["fetch.wait.max.ms"] = "10"
            // librdkafka 2.0.2's embedded brokers answer an old Metadata version, and the clients
            // warn on every request that they cannot pass the production default (false) on; the
            // worker's own check of its topics is what refuses missing ones.
            properties["allow.auto.create.topics"] = "true"
        }
        properties["bootstrap.servers"] = bootstrapServers
        kafka = KafkaConfiguration(properties)
        self.topics = topics
        self.partitions = partitions
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("userrep-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        if let existingModel {
            manifestURL = existingModel
        } else {
            let context = contextFeatures ? (generator.settings.countries, generator.settings.languages) : nil
            let (manifest, weights) = ModelFactory.random(
                batchID: "demo-batch-1", embeddingBatchID: generator.settings.embeddingBatchID,
                dims: generator.settings.dims, hidden: hidden, context: context)
            manifestURL = try ModelFactory.write(manifest: manifest, weights: weights, to: directory.appendingPathComponent("model"))
        }
        model = try EncoderModel.load(manifestURL: manifestURL)
        var specs = TopicPlan.specs(topics, partitions: partitions)
        func setPartitions(of topic: String, to count: Int) {
            guard let i = specs.firstIndex(where: { $0.name == topic }) else { return }
            specs[i] = KafkaTopicSpec(name: topic, partitions: count, configs: specs[i].configs)
        }
        if let outputPartitions { setPartitions(of: topics.output, to: outputPartitions) }
        // Track records are ~1.5 KiB of JSON each: size the table's partitions for the catalogue.
        let trackBytes = generator.settings.tracks * (generator.settings.dims.audio + generator.settings.dims.collaborative) * 12
        setPartitions(of: topics.tracks, to: TopicPlan.embeddedPartitions(forBytes: trackBytes))
        if cluster == nil {
            // Before anything is created: records already there would count as this environment's.
            let admin = try admin()
            if let existing = try specs.first(where: { try admin.partitionCount(topic: $0.name) != nil }) {
                throw KafkaError("topic \(existing.name) already exists at \(bootstrapServers); the environment needs brokers without its topics")
            }
        }
        try createTopics(specs)
        createdChangelogs.append(topics.changelog(forGroup: WorkerConfiguration.defaultGroupID))
        let producer = try KafkaProducer(configuration: kafka)
        for record in generator.trackRecords() {
            try producer.produce(topic: topics.tracks, key: record.trackID, value: record.json())
        }
        try producer.flush(timeoutMs: 60_000)
    }

    /// A worker configuration in group `groupID` with state under the scratch directory; creates
    /// the group's changelog topic if needed.
    public func workerConfiguration(stateName: String = "state", groupID: String = WorkerConfiguration.defaultGroupID) throws
        -> WorkerConfiguration
    {
        var c = WorkerConfiguration(kafka: kafka, stateDirectory: directory.appendingPathComponent(stateName).path)
        c.topics = topics
        c.groupID = groupID
        try ensureChangelog(groupID: groupID)
        return c
    }

    /// Creates group `groupID`'s changelog topic (as many partitions as the input) unless it exists.
    public func ensureChangelog(groupID: String) throws {
        let name = topics.changelog(forGroup: groupID)
        guard try KafkaProducer(configuration: kafka).partitionCount(topic: name) == nil else { return }
        try createTopic(name, partitions: partitions)
        createdChangelogs.append(name)
    }

    /// Creates a topic of `partitions` partitions (single replica on the embedded cluster, the
    /// brokers' default replication elsewhere).
    public func createTopic(_ name: String, partitions: Int) throws {
        try createTopics([KafkaTopicSpec(name: name, partitions: partitions)])
    }

    /// Creates `specs`: through the embedded cluster's mock API (its version answers no
    /// CreateTopics requests), or through the admin API on external brokers.
    private func createTopics(_ specs: [KafkaTopicSpec]) throws {
        if let cluster {
            try TopicPlan.create(specs, on: cluster)
        } else {
            try admin().createTopics(specs)
        }
    }

    /// Fails loudly if the cluster dropped any record of our topics. The changelog is only read
    /// when a partition changes owner or a store is lost; a single in-process worker (demo, bench)
    /// never reads it, so those pass `changelog: false` rather than size it for every state write.
    /// A caller whose subscriber reads the output as it arrives passes `output: false` and checks
    /// that subscriber with `verifyEveryOutputRead`.
    public func verifyNothingDropped(changelog: Bool = true, output: Bool = true) throws {
        let changelogs = changelog ? createdChangelogs : []
        let names =
            [topics.listens, topics.onboarding, topics.tracks] + (output ? [topics.output] : []) + [topics.deadLetters] + changelogs
        try TopicPlan.verifyNothingDropped(names, admin: admin())
    }

    /// Fails loudly unless `subscriber` (reading the output topic from its beginning) has read
    /// every record written to it: a record dropped before it was read is missing from its count.
    public func verifyEveryOutputRead(by subscriber: OutputSubscriber) throws {
        for (p, marks) in try admin().watermarks(topic: topics.output).sorted(by: { $0.key < $1.key }) {
            let read = subscriber.recordsRead[p] ?? 0
            guard read == marks.high else {
                throw KafkaError(
                    "output partition \(p): the subscriber read \(read) of \(marks.high) records; the embedded cluster dropped the rest before they were read (it keeps ~5 MiB per partition), so use more partitions"
                )
            }
        }
    }

    /// Makes broker `outputBroker` of the embedded cluster lead every partition of the output
    /// topic, and broker 1 lead every other topic of `configuration` and coordinate its group, so
    /// that taking `outputBroker` down fails the delivery of outputs alone.
    public func separateOutputs(onBroker outputBroker: Int32, from configuration: WorkerConfiguration) throws {
        guard let cluster else { throw KafkaError("separating outputs needs the embedded cluster") }
        let admin = try admin()
        let others = [topics.listens, topics.onboarding, topics.tracks, topics.deadLetters, topics.batches, configuration.changelogTopic]
        for topic in others + [topics.output] {
            let leader: Int32 = topic == topics.output ? outputBroker : 1
            for p in 0..<Int32(try admin.partitionCount(topic: topic) ?? 0) {
                cluster.setPartitionLeader(KafkaTopicPartition(topic: topic, partition: p), broker: leader)
            }
        }
        cluster.setGroupCoordinator(configuration.groupID, broker: 1)
    }

    /// Removes the scratch directory.
    public func cleanUp() { try? FileManager.default.removeItem(at: directory) }
}
