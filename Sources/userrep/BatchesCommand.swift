// `userrep batches`: the batch registry that every worker of the group follows.
import ArgumentParser
import Foundation
import UserRepKafka
import UserRepModel
import UserRepPipeline

/// Promote, retire and list model batches (paper 4.4: at most two live, current and legacy).
struct BatchesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "batches",
        abstract: "Manage the live model batches (current and legacy) that `userrep run --registry` workers publish.",
        discussion: """
            The registry is one document in the compacted topic userrep-batches (--batches-topic); \
            every worker run with --registry applies each new version between cycles, without a \
            restart. Each live batch is published to its own compacted topic, \
            <output-topic>.<batch-id>. See schemas/batch-registry.md.

            Example:
              userrep batches promote --model models/b43/manifest.json --bootstrap-servers kafka:9092
              userrep batches list --bootstrap-servers kafka:9092
              userrep batches retire b41 --bootstrap-servers kafka:9092
            """,
        subcommands: [Promote.self, Stage.self, Retire.self, List.self]
    )

    /// Makes a model the current batch.
    struct Promote: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make a model the current batch: the current one becomes legacy, the legacy one is retired.",
            discussion: """
                Records the manifest's path (which every worker must see at the same path), its batch \
                and embedding batch, and the SHA-256 of its weights, which workers check before they \
                publish it. Creates the batch's output topic (compacted, as many partitions as the \
                listens topic) if it is missing. Workers re-encode every user they own with the new \
                batch in the background (trigger batch_reencode) and write a completion record per \
                partition (`batches list` shows the coverage). A model of another embedding batch than \
                the current one is refused: it needs a state of that embedding batch first (README, \
                Batches, Rotating to a new embedding batch), then --new-embedding-batch.

                Example:
                  userrep batches promote --model models/b43/manifest.json --bootstrap-servers kafka:9092
                """
        )
        @OptionGroup var kafka: KafkaOptions
        @OptionGroup var topics: TopicOptions
        @OptionGroup var log: LogOptions
        @Option(help: "Model manifest (JSON beside its safetensors weights), at the path the workers see.") var model: String
        @Flag(help: "Allow a model of another embedding batch (the last step of that runbook).") var newEmbeddingBatch = false
        @Option(help: "Replication factor of topics created (-1: broker default).") var replicationFactor = -1

        func run() throws {
            let logger = try log.logger("userrep.batches", quiet: true)
            let admin = BatchRegistryAdmin(kafka: try kafka.configuration(), topics: topics.names, logger: logger)
            let registry = try BatchesCommand.refusingClearly {
                try admin.promote(modelAt: model, newEmbeddingBatch: newEmbeddingBatch, replicationFactor: replicationFactor)
            }
            guard let current = registry.current else { return }
            print(
                "promoted \(current.batchID) (embedding batch \(current.embeddingBatchID)) to current; registry version \(registry.version)"
            )
            print(try BatchesCommand.table(registry, admin: admin))
        }
    }
    /// Stages a model: workers of its embedding batch build their state for it, publishing nothing.
    struct Stage: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Stage a model of a new embedding batch: its workers build their state for it before it is promoted.",
            discussion: """
                A staged batch is not published. A group of workers run with --registry \
                --embedding-batch <its embedding batch> (their own --group-id, --tracks-topic and \
                --state-dir) starts with its layout and builds a state from the input topics; once \
                their consumer lag is zero, promote it with --new-embedding-batch. See README, Batches.

                Example:
                  userrep batches stage --model /models/b50/manifest.json --bootstrap-servers kafka:9092
                """
        )
        @OptionGroup var kafka: KafkaOptions
        @OptionGroup var topics: TopicOptions
        @OptionGroup var log: LogOptions
        @Option(help: "Model manifest, at the path the workers see.") var model: String
        @Option(help: "Replication factor of topics created (-1: broker default).") var replicationFactor = -1

        func run() throws {
            let logger = try log.logger("userrep.batches", quiet: true)
            let admin = BatchRegistryAdmin(kafka: try kafka.configuration(), topics: topics.names, logger: logger)
            let registry = try BatchesCommand.refusingClearly { try admin.stage(modelAt: model, replicationFactor: replicationFactor) }
            print("staged \(registry.staged.last?.batchID ?? model); registry version \(registry.version)")
            print(try BatchesCommand.table(registry, admin: admin))
        }
    }

    /// Retires the legacy batch.
    struct Retire: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Retire a legacy batch: workers stop publishing it and tombstone every user's record in its topic.",
            discussion: """
                The current batch cannot be retired (promote another first). Once every partition's \
                retire record is done (`batches list`), the topic holds no live record and may be deleted.

                Example:
                  userrep batches retire b41 --bootstrap-servers kafka:9092
                """
        )
        @OptionGroup var kafka: KafkaOptions
        @OptionGroup var topics: TopicOptions
        @OptionGroup var log: LogOptions
        @Argument(help: "The batch id to retire.") var batchID: String

        func run() throws {
            let logger = try log.logger("userrep.batches", quiet: true)
            let admin = BatchRegistryAdmin(kafka: try kafka.configuration(), topics: topics.names, logger: logger)
            let registry = try BatchesCommand.refusingClearly { try admin.retire(batchID) }
            print("retired \(batchID); registry version \(registry.version); workers now tombstone its records")
        }
    }

    /// Prints the registry.
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print every batch of the registry with its state and its jobs' coverage.",
            discussion: """
                Coverage counts the partitions whose workers wrote a completion record: for a live \
                batch, every user re-encoded; for a retired one, every user's record tombstoned.

                Example:
                  userrep batches list --bootstrap-servers kafka:9092 [--json]
                """
        )
        @OptionGroup var kafka: KafkaOptions
        @OptionGroup var topics: TopicOptions
        @OptionGroup var log: LogOptions
        @Flag(help: "Print the registry document as JSON.") var json = false

        func run() throws {
            let logger = try log.logger("userrep.batches", quiet: true)
            let admin = BatchRegistryAdmin(kafka: try kafka.configuration(), topics: topics.names, logger: logger)
            let registry = try admin.read().registry ?? BatchRegistry()
            if json {
                print(String(decoding: try registry.encoded(), as: UTF8.self))
                return
            }
            print(try BatchesCommand.table(registry, admin: admin))
        }
    }

    /// Runs a registry change; a refusal exits with status 1 and its message (no usage text: the
    /// command was well formed).
    static func refusingClearly(_ body: () throws -> BatchRegistry) throws -> BatchRegistry {
        do { return try body() } catch let error as BatchRegistryError {
            FileHandle.standardError.write(Data("Error: \(error.description)\n".utf8))
            throw ExitCode.failure
        }
    }

    /// One line per batch: state, embedding batch, since, coverage of its jobs, model.
    static func table(_ registry: BatchRegistry, admin: BatchRegistryAdmin) throws -> String {
        let progress = try admin.read()
        let partitions = try KafkaAdmin(configuration: admin.kafka).partitionCount(topic: admin.topics.listens) ?? 0
        guard !registry.batches.isEmpty else {
            return "the registry is empty: promote a model with `userrep batches promote --model DIR/manifest.json`"
        }
        let formatter = ISO8601DateFormatter()
        var lines = ["batch\tstate\tembedding_batch\tsince\tcoverage\tsha256\tmodel"]
        for entry in registry.batches.reversed() {
            let kind: BatchJobKind = entry.state == .retired ? .retire : .reencode
            guard entry.state != .staged else {
                lines.append("\(entry.batchID)\tstaged\t\(entry.embeddingBatchID)\t-\t-\t\(entry.weightsSHA256.prefix(12))\t\(entry.model)")
                continue
            }
            let done = (0..<Int32(max(0, partitions))).filter { p in
                guard let record = progress.progress(kind, batchID: entry.batchID, partition: p) else { return false }
                return record.done && record.epoch == entry.promotedVersion
            }.count
            let since = formatter.string(from: Date(timeIntervalSince1970: Double(entry.sinceMs) / 1000))
            let coverage = "\(kind == .retire ? "tombstoned" : "re-encoded") \(done)/\(partitions)"
            lines.append(
                "\(entry.batchID)\t\(entry.state.rawValue)\t\(entry.embeddingBatchID)\t\(since)\t\(coverage)\t\(entry.weightsSHA256.prefix(12))\t\(entry.model)"
            )
        }
        return lines.joined(separator: "\n")
    }
}
