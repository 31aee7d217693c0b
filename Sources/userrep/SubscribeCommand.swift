// `userrep subscribe`: tail the output topic and print decoded representations.
import ArgumentParser
import Foundation
import UserRepKafka
import UserRepPipeline

/// Prints representation records as they arrive.
struct SubscribeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "subscribe",
        abstract: "Tail user-representations and print decoded records.",
        discussion: """
            Reads every partition of the output topic (from now on, or --from-beginning), decodes each \
            record and prints one line per record (or its full JSON with --json). --batch-id keeps one \
            model batch only, as a downstream service would.

            Example:
              userrep subscribe --bootstrap-servers kafka:9092 --batch-id b42 --from-beginning --limit 10
            """
    )

    @OptionGroup var kafka: KafkaOptions
    @Option(
        help:
            "Output topic (default: user-representations.<batch-id> when --batch-id names a batch that has its own topic, else user-representations)."
    ) var topic: String?
    @Option(help: "Value format of the topic: protobuf or json.") var format = OutputFormat.protobuf
    @Option(help: "Only print records of this model batch.") var batchId: String?
    @Flag(help: "Start at the oldest record instead of the newest.") var fromBeginning = false
    @Flag(help: "Print each record as one JSON object.") var json = false
    @Option(help: "Exit after printing this many records.") var limit: Int?
    @Flag(help: "Exit once every partition has been read to its end.") var exitAtEnd = false

    func run() throws {
        let stop = StopFlag()
        stop.trapSignals()
        let config = try kafka.configuration()
        let subscriber = try OutputSubscriber(
            kafka: config, topic: try resolvedTopic(config), format: format, batchID: batchId, fromBeginning: fromBeginning)
        var printed = 0
        while !stop.isSet {
            for record in try subscriber.poll(timeoutMs: 200) {
                if json { print(String(decoding: try record.encoded(.json), as: UTF8.self)) } else { print(record.summary()) }
                printed += 1
                if let limit, printed >= limit { return }
            }
            if exitAtEnd && subscriber.atEnd { break }
        }
        if subscriber.undecodable > 0 {
            FileHandle.standardError.write(Data("\(subscriber.undecodable) records could not be decoded as \(format.rawValue)\n".utf8))
        }
    }

    /// `--topic`, or the batch's own topic (a registry worker's output) when it exists.
    func resolvedTopic(_ config: KafkaConfiguration) throws -> String {
        if let topic { return topic }
        let names = TopicNames()
        guard let batchId else { return names.output }
        let own = names.output(forBatch: batchId)
        return try KafkaAdmin(configuration: config).partitionCount(topic: own) != nil ? own : names.output
    }
}
