// `userrep events import`: publish a JSON-lines file of listens or onboarding events, keyed by user.
import ArgumentParser
import Foundation
import UserRepKafka
import UserRepPipeline

/// Event tools.
struct EventsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events",
        abstract: "Publish listen or onboarding events from a JSON-lines file.",
        subcommands: [Import.self]
    )

    /// Which schema the lines follow.
    enum Kind: String, ExpressibleByArgument, CaseIterable {
        case listens, onboarding
    }

    /// Publishes a JSON-lines file of events, each keyed by its user id and stamped with its event time.
    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Publish a JSON-lines file of listens (or onboarding events) to their topic.",
            discussion: """
                Each line is one event of schemas/listens.schema.json (or onboarding.schema.json). Every
                line is parsed first; one bad line stops the import with its line number before anything
                is published. Records are keyed by user_id, as the worker requires, and carry the event
                time as their timestamp. A replay topic for `userrep backfill` is filled the same way.

                Example:
                  userrep events import --file listens.jsonl --bootstrap-servers kafka:9092
                  userrep events import --file picks.jsonl --kind onboarding --bootstrap-servers kafka:9092
                """
        )
        @OptionGroup var kafka: KafkaOptions
        @Option(help: "JSON-lines file, one event per line (blank lines are skipped).") var file: String
        @Option(help: "Schema of the lines: listens or onboarding.") var kind = Kind.listens
        @Option(help: "Topic to publish to (default: the kind's topic, listens or onboarding).") var topic: String?

        func run() throws {
            let data = try Data(contentsOf: URL(fileURLWithPath: file))
            let events = try EventFile.read(data, kind: kind, name: file)
            let target = topic ?? (kind == .listens ? TopicNames().listens : TopicNames().onboarding)
            let producer = try KafkaProducer(configuration: try kafka.configuration())
            for e in events {
                try e.line.withUnsafeBytes { value in
                    try e.userID.withUnsafeBytes { key in
                        try producer.produce(topic: target, key: key, value: value, timestampMs: e.timestampMs)
                    }
                }
            }
            try producer.flush(timeoutMs: 120_000)
            print("imported \(events.count) \(kind.rawValue) events into \(target)")
        }
    }
}

/// A JSON-lines event file, checked line by line against the worker's own parsers.
enum EventFile {
    /// One checked line: its bytes, its user and its event time.
    struct Line {
        let line: [UInt8]
        let userID: [UInt8]
        let timestampMs: Int64
    }

    /// Every non-blank line of `data`, or an error naming the first line the worker would reject.
    static func read(_ data: Data, kind: EventsCommand.Kind, name: String) throws -> [Line] {
        try parsedLines(data, kind: kind, name: name) { try identity(of: $0, kind: kind) }
            .map { Line(line: $0.bytes, userID: $0.value.user, timestampMs: $0.value.timeMs) }
    }

    /// Every listen of a JSON-lines file, each line parsed once by the worker's parser.
    static func listens(_ data: Data, name: String) throws -> [ListenEvent] {
        try parsedLines(data, kind: .listens, name: name) { try ListenEvent.parse($0) }.map(\.value)
    }

    /// Every onboarding event of a JSON-lines file, each line parsed once by the worker's parser.
    static func onboarding(_ data: Data, name: String) throws -> [OnboardingEvent] {
        try parsedLines(data, kind: .onboarding, name: name) { try OnboardingEvent.parse($0) }.map(\.value)
    }

    /// Each non-blank line's bytes (without a trailing CR) and what `parse` made of them; an
    /// error names the file and line of the first that `parse` rejects.
    private static func parsedLines<T>(
        _ data: Data, kind: EventsCommand.Kind, name: String, parse: (UnsafeRawBufferPointer) throws -> T
    ) throws -> [(bytes: [UInt8], value: T)] {
        var out: [(bytes: [UInt8], value: T)] = []
        var number = 0
        for raw in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            number += 1
            let bytes = Array(raw.last == UInt8(ascii: "\r") ? raw.dropLast() : raw)
            if bytes.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }) { continue }
            do {
                out.append((bytes, try bytes.withUnsafeBytes { try parse($0) }))
            } catch {
                throw ValidationError("\(name):\(number): not a valid \(kind.rawValue) event: \(error)")
            }
        }
        return out
    }

    /// The user and event time of one line, parsed by the worker's parser for `kind`.
    private static func identity(of bytes: UnsafeRawBufferPointer, kind: EventsCommand.Kind) throws -> (user: [UInt8], timeMs: Int64) {
        switch kind {
        case .listens:
            let e = try ListenEvent.parse(bytes)
            return (e.userID, e.timestampMs)
        case .onboarding:
            let e = try OnboardingEvent.parse(bytes)
            return (e.userID, e.timestampMs)
        }
    }
}
