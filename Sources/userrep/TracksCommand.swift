// `userrep tracks`: bulk-import and generate track-embedding files.
import ArgumentParser
import Foundation
import UserRepKafka
import UserRepModel
import UserRepPipeline
import UserRepTesting

/// Track-table tools.
struct TracksCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tracks",
        abstract: "Import track embeddings into the track-embeddings topic, or generate a synthetic file.",
        subcommands: [Import.self, Generate.self]
    )

    /// Publishes a file of track embeddings to the compacted topic.
    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Publish a JSON-lines or binary (.utrk) track file to the track-embeddings topic.",
            discussion: """
                Every record is validated against the dimensions first; one bad record stops the import
                with its line number before anything is published.

                Example:
                  userrep tracks import --file tracks.utrk --bootstrap-servers kafka:9092
                """
        )
        @OptionGroup var kafka: KafkaOptions
        @Option(help: "Track file (JSON lines or binary, detected from its first bytes).") var file: String
        @Option(help: "Track-embeddings topic.") var topic = TopicNames().tracks
        @Option(help: "Audio embedding dimensions.") var audioDims = 80
        @Option(help: "Collaborative embedding dimensions.") var collaborativeDims = 80

        func run() throws {
            let data = try Data(contentsOf: URL(fileURLWithPath: file))
            let records = try TrackFile.read(data, dims: .init(audio: audioDims, collaborative: collaborativeDims))
            let producer = try KafkaProducer(configuration: try kafka.configuration())
            for r in records { try producer.produce(topic: topic, key: r.trackID, value: r.json()) }
            try producer.flush(timeoutMs: 120_000)
            print("imported \(records.count) tracks (\(TrackFile.detect(data).rawValue)) into \(topic)")
        }
    }

    /// Writes a synthetic catalogue file.
    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the synthetic generator's track catalogue to a file.",
            discussion: """
                Example:
                  userrep tracks generate --output tracks.utrk --format binary --count 20000
                """
        )
        @Option(help: "File to write.") var output: String
        @Option(help: "jsonl or binary.") var format = "binary"
        @Option(help: "Tracks.") var count = 20_000
        @Option(help: "Embedding batch id.") var embeddingBatchId = "emb-demo-1"

        func run() throws {
            guard let f = TrackFile.Format(rawValue: format) else { throw ValidationError("--format must be jsonl or binary") }
            var settings = SyntheticGenerator.Settings()
            settings.tracks = count
            settings.embeddingBatchID = embeddingBatchId
            let data = TrackFile.write(SyntheticGenerator(settings: settings).trackRecords(), format: f)
            try data.write(to: URL(fileURLWithPath: output))
            print("wrote \(count) tracks to \(output) (\(data.count) bytes)")
        }
    }
}
