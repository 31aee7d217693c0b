// Options shared by the commands that run a worker: what it refuses, and how long a stop may take.
import ArgumentParser
import UserRepKafka
import UserRepPipeline

/// Input-size, event-time, misconfiguration, disk and shutdown limits, checked and applied to a worker configuration.
struct SafetyOptions: ParsableArguments {
    @Option(help: "Records larger than this many bytes are dead-lettered.") var maxRecordBytes = defaults.maxRecordBytes
    @Option(
        help:
            "Dead letters keep at most this many bytes of the original key and value (the rest is cut, with headers saying so); keep it below the dead-letter topic's max.message.bytes."
    )
    var maxDeadLetterBytes = defaults.maxDeadLetterBytes
    @Option(
        help:
            "Stop (exit non-zero, commit nothing) when at least this share of recent listens name tracks missing from the track table: a track table that does not fit the model. Above 1 disables the check."
    )
    var maxUnknownTrackRatio = defaults.maxUnknownTrackRatio
    @Option(
        help:
            "Stop (exit non-zero, commit nothing) when at least this share of recent events are refused for their form (malformed-json, missing-field, invalid-field, key-mismatch, empty-value, oversized): a producer that changed format, which would otherwise drain the stream into the dead-letter topic. Above 1 disables the check (every such record is dead-lettered)."
    )
    var maxMalformedRatio = defaults.maxMalformedRatio
    @Flag(
        inversion: .prefixedNo,
        help:
            "Stop (exit non-zero, commit nothing) when the input topics' records show two different key partitioners (Java's murmur2 against librdkafka's CRC32, say): a user's listens and onboarding events would land in different partitions, and the worker would keep two states for them."
    )
    var coPartitioningCheck = defaults.checkCoPartitioning
    @Option(
        help:
            "Events stamped more than this many hours after their record's timestamp are dead-lettered (event-time-ahead: a device clock set ahead would age every silent user of its partition); when nearly all are, the worker stops instead (a wrong clock where the records are produced). 0: no bound."
    )
    var maxEventTimeAheadHours = Int((defaults.maxEventTimeAheadMs ?? 0) / 3_600_000)
    @Option(help: "Refuse to start with less free space (MiB) on the state directory's file system.")
    var minFreeDiskMb = Int(defaults.minFreeDiskBytes >> 20)
    @Option(
        help:
            "Seconds a stop may spend committing the group offsets and leaving the group (with Kafka unreachable it ends after this, exit code 75)."
    )
    var shutdownTimeout = Int(defaults.shutdownTimeoutMs / 1000)

    func validate() throws {
        guard maxRecordBytes >= 1 else { throw ValidationError("--max-record-bytes must be at least 1, got \(maxRecordBytes)") }
        guard maxDeadLetterBytes >= 0 else {
            throw ValidationError("--max-dead-letter-bytes must not be negative, got \(maxDeadLetterBytes)")
        }
        guard maxUnknownTrackRatio > 0 else {
            throw ValidationError("--max-unknown-track-ratio must be above 0, got \(maxUnknownTrackRatio)")
        }
        guard maxMalformedRatio > 0 else {
            throw ValidationError("--max-malformed-ratio must be above 0, got \(maxMalformedRatio)")
        }
        guard maxEventTimeAheadHours >= 0 else {
            throw ValidationError("--max-event-time-ahead-hours must not be negative, got \(maxEventTimeAheadHours)")
        }
        guard minFreeDiskMb >= 0 else { throw ValidationError("--min-free-disk-mb must not be negative, got \(minFreeDiskMb)") }
        guard (1...600).contains(shutdownTimeout) else {
            throw ValidationError("--shutdown-timeout must be 1 to 600 seconds, got \(shutdownTimeout)")
        }
    }

    /// Sets the limits of `config`.
    func apply(to config: inout WorkerConfiguration) {
        config.maxRecordBytes = maxRecordBytes
        config.maxDeadLetterBytes = maxDeadLetterBytes
        config.maxUnknownTrackRatio = maxUnknownTrackRatio
        config.maxMalformedRatio = maxMalformedRatio
        config.checkCoPartitioning = coPartitioningCheck
        config.maxEventTimeAheadMs = maxEventTimeAheadHours > 0 ? Int64(maxEventTimeAheadHours) * 3_600_000 : nil
        config.minFreeDiskBytes = Int64(minFreeDiskMb) << 20
        config.shutdownTimeoutMs = Int32(shutdownTimeout * 1000)
    }
}

/// The library's defaults, shown by `--help`.
private let defaults = WorkerConfiguration(kafka: KafkaConfiguration(), stateDirectory: "")

/// Exit status of a worker that stopped within its time bound but could not finish the group
/// steps (Kafka unreachable): state is flushed locally, and the next start resumes from it.
let exitStateFlushedGroupNotCommitted: Int32 = 75
