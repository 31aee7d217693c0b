// `userrep demo`: the whole system on one machine, no Kafka installation needed.
import ArgumentParser
import Foundation
import Synchronization
import UserRepKafka
import UserRepModel
import UserRepPipeline
import UserRepTesting

/// Embedded cluster + synthetic listens + worker + a subscriber printing vectors.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run everything on this machine: embedded Kafka, synthetic listens, worker, subscriber.",
        discussion: """
            Starts librdkafka's built-in Kafka-protocol cluster on loopback, writes a random-weight model, \
            publishes a synthetic track catalogue, streams listens with Zipf-like skew over six months of \
            event time (each new user signs up first; most pick artists and languages, some skip), runs \
            the worker with a context-aware model and prints the vectors it publishes, cold-start ones \
            (trigger onboarding) included. Runs until Ctrl-C, or until \
            --events listens are processed.

            Example:
              userrep demo --events 200000 --rate 20000
            """
    )

    @OptionGroup var log: LogOptions
    @Option(help: "Listens to generate (default: until Ctrl-C).") var events: Int?
    @Option(help: "Listens per second.") var rate: Double = 5_000
    @Option(help: "Distinct users.") var users = 20_000
    @Option(help: "Tracks in the catalogue.") var tracks = 5_000
    @Option(help: "Input partitions.") var partitions = 8
    @Option(help: "Print at most this many vectors per second.") var printRate = 5

    func run() throws {
        let logger = try log.logger("userrep.demo", quiet: true)
        let settings = SyntheticGenerator.Settings(users: users, tracks: tracks)
        let generator = SyntheticGenerator(settings: settings)
        // Each JSON listen is ~140 bytes; size partitions for the whole run (or an hour at the rate).
        let expected = events ?? Int(rate * 3600)
        let env = try EmbeddedEnvironment(
            partitions: max(partitions, TopicPlan.embeddedPartitions(forBytes: expected * 150)), generator: generator,
            contextFeatures: true)
        defer { env.cleanUp() }
        print(
            "embedded Kafka at \(env.bootstrapServers); model \(env.model.batchID) \(env.model.manifest.layers); \(tracks) tracks, \(users) users"
        )

        let stop = StopFlag()
        stop.trapSignals()
        let producerDone = StopFlag()
        let workerDone = StopFlag()
        let failure = Mutex<String?>(nil)
        let total = events ?? Int.max / 2
        let rate = self.rate
        let kafka = env.kafka, topic = env.topics.listens, onboardingTopic = env.topics.onboarding

        let producerThread = Thread {
            do {
                var g = generator
                let producer = try KafkaProducer(configuration: kafka)
                try ListenLoad.produce(
                    &g, producer: producer, topic: topic, count: total, total: events ?? Int(rate * 86_400 * 180),
                    ratePerSecond: rate, onboardingTopic: onboardingTopic, shouldStop: { stop.isSet })
            } catch { failure.withLock { $0 = "producer: \(error)" } }
            producerDone.set()
        }
        let config = try env.workerConfiguration()
        let model = env.model
        let boundedRun = events != nil
        let workerThread = Thread {
            do {
                let worker = try StreamWorker(configuration: config, model: model, logger: logger, shouldStop: { stop.isSet })
                let metrics = try worker.run(until: boundedRun ? .whenCaughtUp(gate: { producerDone.isSet }) : .never)
                print("worker: \(metrics.summary)")
            } catch { failure.withLock { $0 = "worker: \(error)" } }
            workerDone.set()
        }
        producerThread.start()
        workerThread.start()

        var received = 0, coldStart = 0
        var users = Set<String>()
        // The subscriber lives in this scope so it is gone before the cluster stops.
        do {
            let subscriber = try OutputSubscriber(
                kafka: env.kafka, topic: env.topics.output, format: .protobuf, batchID: nil, fromBeginning: true)
            var printedThisSecond = 0
            var second = Date()
            var lastStatus = Date()
            while true {
                let done = workerDone.isSet
                for record in try subscriber.poll(timeoutMs: 100) {
                    received += 1
                    users.insert(record.userID)
                    if record.trigger == .onboarding { coldStart += 1 }
                    if Date().timeIntervalSince(second) >= 1 { second = Date(); printedThisSecond = 0 }
                    if printedThisSecond < printRate || (record.trigger == .onboarding && coldStart <= 3) {
                        print(record.summary())
                        printedThisSecond += 1
                    }
                }
                if Date().timeIntervalSince(lastStatus) >= 5 {
                    lastStatus = Date()
                    print("-- \(received) vectors received for \(users.count) users (\(coldStart) cold-start vectors from sign-ups)")
                }
                if done && subscriber.atEnd { break }
            }
            if let message = failure.withLock({ $0 }) { throw ValidationError(message) }
            // The output may age out of the cluster once read: what counts is that none was dropped unread.
            try env.verifyEveryOutputRead(by: subscriber)
        }
        try env.verifyNothingDropped(changelog: false, output: false)
        print(
            "demo finished: \(received) vectors for \(users.count) users (\(coldStart) cold-start); nothing dropped by the embedded cluster"
        )
    }
}
