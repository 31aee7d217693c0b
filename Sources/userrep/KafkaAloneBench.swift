// `userrep bench`'s Kafka floor: the worker's reads and writes with none of its work.
import Foundation
import UserRepKafka
import UserRepModel
import UserRepPipeline
import UserRepTesting

/// The Kafka traffic of a backlog run alone, to show how much of the machine it takes.
struct KafkaAloneBench {
    /// Sizes of what the worker wrote per listen read.
    struct Traffic {
        /// Listens in the backlog.
        var events: Int
        /// Output records written per listen read.
        var recordsPerEvent: Double
        /// Bytes of one output record's value.
        var outputBytes: Int
        /// Changelog records (heads, tiles, tombstones) written per output record.
        var changelogRecordsPerOutput: Double
        /// Bytes of one changelog record (key and value, on average).
        var changelogBytes: Int
    }

    /// Result of one run.
    struct Result {
        var seconds: Double
        var cpuSeconds: Double
        var recordsWritten: Int
        var changelogRecordsWritten: Int
    }

    let env: EmbeddedEnvironment
    let maxPollRecords: Int

    /// Reads the backlog as a new group and, per poll, writes the output and changelog
    /// records the worker wrote for it (same counts and sizes, incompressible values, the
    /// worker's codecs), waiting for their delivery before the next poll as the worker does.
    func run(_ traffic: Traffic) throws -> Result {
        let output = "bench-kafka-alone-output", changelog = "bench-kafka-alone-changelog"
        // These topics are written only to be measured; what the embedded cluster drops of them is never read.
        for name in [output, changelog] { try env.createTopic(name, partitions: env.partitions) }
        let producer = try KafkaProducer(configuration: env.kafka)
        try producer.configureTopic(changelog, properties: ["compression.codec": "lz4"])
        let outputTopic = try producer.openTopic(output), changelogTopic = try producer.openTopic(changelog)
        var rng = SplitMix64(seed: 11)
        let outputValue = (0..<traffic.outputBytes).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        let stateValue = (0..<traffic.changelogBytes).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        let header = [KafkaHeader(name: RepresentationRecord.batchHeader, string: env.model.batchID)]

        let consumer = try KafkaConsumer(configuration: env.kafka.overriding(["group.id": "bench-kafka-alone"]))
        try consumer.subscribe([env.topics.listens])
        let polled = KafkaPolledRecords(topics: [env.topics.listens])
        var read = 0, written = 0, changelogWritten = 0, owed = 0.0, changelogOwed = 0.0
        var started: Date?
        let cpuBefore = ProcessCPU.seconds()
        let deadline = Date().addingTimeInterval(600)
        while read < traffic.events {
            guard Date() < deadline else { throw KafkaError("kafka-alone run read \(read) of \(traffic.events) listens in 10 minutes") }
            let n = try consumer.poll(into: polled, maxMessages: maxPollRecords, timeoutMs: 100)
            guard n > 0 else { continue }
            if started == nil { started = Date() }
            var offsets: [KafkaTopicPartition: Int64] = [:]
            for i in 0..<n {
                let m = polled[i]
                offsets[KafkaTopicPartition(topic: env.topics.listens, partition: m.partition)] = m.offset + 1
                owed += traffic.recordsPerEvent
                guard owed >= 1 else { continue }
                owed -= 1
                changelogOwed += traffic.changelogRecordsPerOutput
                while changelogOwed >= 1 {
                    changelogOwed -= 1
                    changelogWritten += 1
                    try stateValue.withUnsafeBytes { state in
                        try producer.produce(
                            to: changelogTopic, partition: m.partition, key: m.key, value: state, headers: header, trackOffset: true)
                    }
                }
                try outputValue.withUnsafeBytes { try producer.produce(to: outputTopic, key: m.key, value: $0, headers: header) }
                written += 1
            }
            try producer.flush(timeoutMs: 60_000)
            _ = producer.takeDeliveredOffsets()
            try consumer.commit(offsets, async: true)
            read += n
        }
        let seconds = Date().timeIntervalSince(started ?? Date())
        consumer.close()
        return Result(seconds: seconds, cpuSeconds: ProcessCPU.seconds() - cpuBefore, recordsWritten: written, changelogRecordsWritten: changelogWritten)
    }
}
