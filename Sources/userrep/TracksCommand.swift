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
        subcommands: [Import.self, Generate.self, Build.self]
    )

    /// Publishes a file of track embeddings to the compacted topic.
    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Publish a JSON-lines or binary (.utrk) track file to the track-embeddings topic.",
            discussion: """
                Every record is validated against the dimensions first; one bad record stops the import
                with its line number before anything is published. After the last acknowledgement the
                topic's watermarks are checked: if the cluster no longer holds every record imported
                (the embedded cluster keeps about 5 MiB per partition), the import fails and says so.

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
            let data = try Data(contentsOf: URL(fileURLWithPath: file), options: .mappedIfSafe)
            let dims = ModelManifest.EmbeddingDims(audio: audioDims, collaborative: collaborativeDims)
            let configuration = try kafka.configuration()
            let check = try ImportRetentionCheck(kafka: configuration, topic: topic)
            let producer = try KafkaProducer(configuration: configuration)
            var count = 0
            switch TrackFile.detect(data) {
            case .jsonl:
                // Every line is checked before the first is published; then the lines go out as they are.
                let lines = try TrackFile.checkedLines(data, dims: dims)
                try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
                    for line in lines {
                        let value = UnsafeRawBufferPointer(rebasing: raw[line.bytes])
                        try line.trackID.withUnsafeBytes { key in try producer.produce(topic: topic, key: key, value: value) }
                    }
                }
                count = lines.count
            case .binary:
                let records = try TrackFile.read(data, dims: dims)
                for r in records { try producer.produce(topic: topic, key: r.trackID, value: r.json()) }
                count = records.count
            }
            try producer.flush(timeoutMs: 120_000)
            try check.verify(imported: count)
            print("imported \(count) tracks (\(TrackFile.detect(data).rawValue)) into \(topic)")
        }
    }

    /// Builds a track table from listens (and optional content vectors).
    struct Build: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Build track embeddings from listens: collaborative from co-occurrence, content from a file.",
            discussion: """
                For a catalogue without an embedding service. The collaborative half is a truncated \
                eigen-decomposition of the positive-PMI track-track matrix of co-occurrence in users' \
                histories (LAPACK via OpenBLAS), from listens at or before --until only, so a \
                point-in-time evaluation sees nothing of the future. The "audio" half is the content \
                vector of --content (JSON lines {"track_id", "artist_id", "content": [floats]}, e.g. \
                genres and release year), padded or cut to --audio-dims; zeros without it. Up to \
                20,000 tracks (the matrix is dense). Writes JSON lines for `userrep tracks import`.

                Example:
                  userrep tracks build --listens listens.jsonl --until 1998-03-01 --content items.jsonl \\
                    --output tracks.jsonl --embedding-batch-id ml100k-1 --audio-dims 20 --collaborative-dims 32
                """
        )
        @Option(help: "Listens, JSON lines (schemas/listens.schema.json).") var listens: String
        @Option(help: "Only listens at or before this event time count (ISO 8601 or ms).") var until: EventTimeArgument?
        @Option(help: "Content vectors, JSON lines {\"track_id\", \"artist_id\", \"content\": [..]}.") var content: String?
        @Option(help: "Track file to write (JSON lines).") var output: String
        @Option(help: "Embedding batch id of the records.") var embeddingBatchId: String
        @Option(help: "Audio (content) dimensions.") var audioDims = 80
        @Option(help: "Collaborative dimensions.") var collaborativeDims = 80

        func run() throws {
            let parsed = try EventFile.listens(try Data(contentsOf: URL(fileURLWithPath: listens)), name: listens)
            var contents: [[UInt8]: TrackCatalogueBuilder.Content] = [:]
            if let content {
                for (n, line) in try String(contentsOfFile: content, encoding: .utf8).split(separator: "\n").enumerated() {
                    guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                        let id = object["track_id"] as? String, let values = object["content"] as? [Double]
                    else {
                        throw ValidationError(
                            "\(content):\(n + 1): expected {\"track_id\": string, \"artist_id\": string, \"content\": [numbers]}")
                    }
                    contents[Array(id.utf8)] = .init(
                        artistID: Array(((object["artist_id"] as? String) ?? id).utf8), vector: values.map { Float($0) })
                }
            }
            let builder = TrackCatalogueBuilder(dims: .init(audio: audioDims, collaborative: collaborativeDims), batchID: embeddingBatchId)
            let records = try builder.build(listens: parsed, untilMs: until?.ms, content: contents)
            let url = URL(fileURLWithPath: output)
            try TrackFile.write(records, format: .jsonl).write(to: url, options: .atomic)
            print("wrote \(records.count) tracks (\(audioDims)+\(collaborativeDims) dimensions, batch \(embeddingBatchId)) to \(output)")
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
