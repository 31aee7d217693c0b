// `userrep events import`: publish a JSON-lines file of listens or onboarding events, keyed by user.
import ArgumentParser
import Foundation
import UserRepKafka
import UserRepPipeline
import UserRepTesting

/// Event tools.
struct EventsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events",
        abstract: "Publish listen or onboarding events from a JSON-lines file.",
        subcommands: [Import.self, Generate.self]
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
                time as their timestamp. A replay topic for `userrep backfill` is filled the same way. \
                The import fails if the cluster no longer holds every record afterwards (the embedded \
                cluster keeps about 5 MiB per partition).

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
            let configuration = try kafka.configuration()
            let check = try ImportRetentionCheck(kafka: configuration, topic: target)
            let producer = try KafkaProducer(configuration: configuration)
            for e in events {
                try e.line.withUnsafeBytes { value in
                    try e.userID.withUnsafeBytes { key in
                        try producer.produce(topic: target, key: key, value: value, timestampMs: e.timestampMs)
                    }
                }
            }
            try producer.flush(timeoutMs: 120_000)
            try check.verify(imported: events.count)
            print("imported \(events.count) \(kind.rawValue) events into \(target)")
        }
    }
}

extension EventsCommand {
    /// Writes a synthetic world (listens, sign-ups, catalogue) as files.
    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write synthetic listens, onboarding events and tracks (with planted taste clusters) as files.",
            discussion: """
                The generator of `userrep demo` (Zipf-like popularity and activity over --span-days), with \
                --taste-clusters planted: artist a and user u belong to cluster a % K and u % K, a share \
                --taste-strength of a user's listens and all their onboarding picks come from their \
                cluster, and a track's audio embedding is its cluster's centroid plus noise. Each user \
                signs up a minute before their first listen (--onboarding-completion of them pick \
                artists and languages, the rest skip) and plays a first session of --first-session \
                listens in the two hours after. Writes DIR/listens.jsonl, DIR/onboarding.jsonl and \
                DIR/tracks.jsonl (each whole or not at all), for `events import`, `tracks import`, \
                `tracks build` and `evaluate`.

                Example:
                  userrep events generate --output-dir synth --users 3000 --tracks 2000 --listens 150000 --taste-clusters 8
                """
        )
        @Option(help: "Directory to write the three files into.") var outputDir: String
        @Option(help: "Distinct users.") var users = 3_000
        @Option(help: "Tracks (one artist per ten).") var tracks = 2_000
        @Option(help: "Listens of the main timeline.") var listens = 150_000
        @Option(help: "Planted taste clusters (0: none).") var tasteClusters = 8
        @Option(help: "Share of a user's listens from their cluster.") var tasteStrength = 0.7
        @Option(help: "Listens in each user's first two hours.") var firstSession = 8
        @Option(
            help:
                "Consecutive listens of the timeline by one user (a session; 1: every listen's user is drawn anew, so a user's listens are spread over the span)."
        ) var sessionLength = 1
        @Option(help: "Share of users who complete onboarding.") var onboardingCompletion = 0.6
        @Option(help: "Days of event time the timeline spans.") var spanDays = 180
        @Option(help: "Audio and collaborative embedding dimensions (each).") var dims = 32
        @Option(help: "Embedding batch id of the tracks.") var embeddingBatchId = "synth-emb-1"
        @Option(help: "Seed.") var seed: UInt64 = 42

        func run() throws {
            guard users > 0, tracks >= 10, listens > 0, dims > 0, sessionLength > 0 else {
                throw ValidationError("--users, --listens, --dims and --session-length must be positive; --tracks at least 10")
            }
            guard tasteClusters >= 0, tasteClusters <= tracks / 10 else {
                throw ValidationError("--taste-clusters must be between 0 and the artist count (\(tracks / 10))")
            }
            var settings = SyntheticGenerator.Settings(users: users, tracks: tracks)
            settings.tasteClusters = tasteClusters
            settings.tasteStrength = tasteStrength
            settings.onboardingCompletion = onboardingCompletion
            settings.spanDays = spanDays
            settings.dims = .init(audio: dims, collaborative: dims)
            settings.embeddingBatchID = embeddingBatchId
            settings.seed = seed
            let world = SyntheticEvents.generate(
                settings: settings, listens: listens, firstSession: firstSession, sessionLength: sessionLength)
            let dir = URL(fileURLWithPath: outputDir)
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            func write(_ lines: [[UInt8]], _ name: String) throws {
                var data = Data()
                for l in lines {
                    data.append(contentsOf: l)
                    data.append(0x0A)
                }
                try data.write(to: dir.appendingPathComponent(name), options: .atomic)
            }
            try write(world.listens.map { $0.json() }, "listens.jsonl")
            try write(world.onboarding.map { $0.json() }, "onboarding.jsonl")
            try write(world.tracks.map { $0.json() }, "tracks.jsonl")
            print(
                "wrote \(world.listens.count) listens, \(world.onboarding.count) sign-ups and \(world.tracks.count) tracks (\(tasteClusters) taste clusters) to \(outputDir)"
            )
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
