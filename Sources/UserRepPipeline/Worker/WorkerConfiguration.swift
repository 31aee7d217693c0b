// Settings of a stream worker or backfill run.
import Foundation
import UserRepKafka
import UserRepState

/// Everything a worker needs besides its model.
public struct WorkerConfiguration: Sendable {
    /// librdkafka properties shared by every client (bootstrap servers, security, tuning).
    public var kafka: KafkaConfiguration
    /// Consumer group; workers with the same id share the input partitions.
    public var groupID = WorkerConfiguration.defaultGroupID
    /// Default consumer group (and so the default changelog `userrep-state-changelog`).
    public static let defaultGroupID = "userrep"
    /// Topic names.
    public var topics = TopicNames()
    /// RocksDB directory of this worker's state.
    public var stateDirectory: String
    /// Value format of output records.
    public var outputFormat = OutputFormat.protobuf
    /// Most records handled in one poll cycle (one state write, one GEMM, one produce burst).
    public var maxPollRecords = WorkerConfiguration.defaultMaxPollRecords
    /// Default of `maxPollRecords`: large, so a worker behind coalesces more events per user
    /// (on the benchmark backlog 100k gave 39k events/s where 20k gave 30k); a worker keeping up
    /// reads what has arrived, so its cycles stay small.
    public static let defaultMaxPollRecords = 100_000
    /// Most serialized state bytes one cycle should write (its RocksDB batch and changelog
    /// records; the cycle holds about three times this at its peak): after a cycle over it the
    /// next polls take fewer records (`CycleSizer`). 0: only `maxPollRecords` bounds a cycle.
    public var maxCycleStateBytes = WorkerConfiguration.defaultMaxCycleStateBytes
    /// Default of `maxCycleStateBytes`.
    public static let defaultMaxCycleStateBytes = 64 << 20
    /// Threads the CPU-bound stages of a cycle run on: parsing, state updates, features + encoder
    /// and state serialization. Kafka and RocksDB calls stay on the worker's thread, but for a
    /// cycle's state write, which runs beside the next cycle (see `StateStore`).
    public var computeThreads = WorkerConfiguration.defaultComputeThreads
    /// Default of `computeThreads`: one per core. The Kafka clients' threads mostly wait while a
    /// cycle computes, so the cores are free then.
    public static var defaultComputeThreads: Int { ProcessInfo.processInfo.activeProcessorCount }
    /// Records one parse task handles; tests shrink it so small cycles parse in several chunks.
    var parseChunkRecords = 4_096
    /// How long a poll waits for the first record.
    public var pollTimeoutMs: Int32 = 100
    /// A stream worker's cycles start at least this far apart: once a record has come, the poll
    /// waits for more until this long after the last cycle began (a cycle that took longer
    /// starts the next at once). Like a producer's `linger.ms`: each cycle's fixed costs (a
    /// produce request to every touched partition, a state write, an offset commit) are shared by
    /// more records, for at most this much added latency. 0: a cycle starts with whatever has come.
    public var cycleLingerMs = WorkerConfiguration.defaultCycleLingerMs
    /// Default of `cycleLingerMs`.
    public static let defaultCycleLingerMs = 0
    /// Records larger than this go to the dead-letter topic.
    public var maxRecordBytes = 65_536
    /// Valid events later than this event time (ms since the epoch) are read but not applied
    /// (`backfill --until`: the state as of that time); nil applies everything.
    public var untilMs: Int64?
    /// Whether a backfill publishes every stored user's final vector when it ends.
    public var backfillPublishes = true
    /// A backfill that seeds a stream group (`backfill --seed-group`): when it ends, every user's
    /// state goes to this group's changelog with the hand-off time `untilMs`, and the group's
    /// workers go on from the live topics with the events after it. Nil: no seeding.
    public var seedGroupID: String?
    /// Dead-letter records keep at most this many bytes of the original key and value (the rest
    /// is cut, with headers saying so); it must stay below the dead-letter topic's
    /// `max.message.bytes` (1 MB by default) with room for headers.
    public var maxDeadLetterBytes = 512 * 1024
    /// Share of a cycle's listens (over the last 1,000 or more) naming unknown tracks at or above
    /// which the worker stops instead of dead-lettering them: the sign of a track table that
    /// does not fit the model. Above 1 disables the check.
    public var maxUnknownTrackRatio = 0.9
    /// Share of a cycle's events (over the last 1,000 or more) refused for their form
    /// (`DeadLetterReason.isAboutForm`: malformed-json, missing-field, invalid-field,
    /// key-mismatch, empty-value, oversized) at or above which the worker stops instead of
    /// dead-lettering them: a producer that changed format, or a topic of other records, would
    /// otherwise drain the stream into the dead-letter topic. Above 1 disables the check.
    public var maxMalformedRatio = 0.9
    /// Whether the worker stops when its input topics' records show two different key
    /// partitioners (a user's listens and onboarding events in different partitions, so two
    /// states for them): see `CoPartitioningGuard`.
    public var checkCoPartitioning = true
    /// Events stamped more than this many ms after their record's timestamp are dead-lettered
    /// (`event-time-ahead`: a device clock set ahead would move the partition's watermark and age
    /// every silent user there); when nearly all of a cycle's events are (over the last 1,000 or
    /// more), the worker stops instead (the records' clock is wrong, not the input). nil: no bound.
    public var maxEventTimeAheadMs: Int64? = 24 * 3_600_000
    /// The worker refuses to start with less free space than this on the state directory's
    /// file system.
    public var minFreeDiskBytes: Int64 = 64 << 20
    /// Most bytes of decoded user states the state store keeps in memory (RocksDB holds them all).
    public var stateCacheBytes = StateStore.defaultCacheBytes
    /// RocksDB's block cache and memtable sizes for the state store.
    public var stateDatabaseMemory = StateStore.DatabaseMemory()
    /// Most bytes of track embeddings kept in memory; the whole table is in RocksDB, in the state
    /// directory's `tracks` folder (`TrackTable.trackBytes` per track, about 0.7 KB at 160 floats).
    public var trackCacheBytes = WorkerConfiguration.defaultTrackCacheBytes
    /// Where the worker keeps its copy of the track table.
    public var trackStoreDirectory: String { stateDirectory + "/tracks" }
    /// The default bound of the track cache: 96 MiB, about 140k tracks of 160 floats.
    public static let defaultTrackCacheBytes = 96 << 20
    /// Bound on a stop: committing the group offsets and leaving the group take at most this
    /// long together, also when Kafka is unreachable.
    public var shutdownTimeoutMs: Int32 = 10_000
    /// How long to wait for output delivery before failing the cycle (and exiting non-zero).
    public var deliveryTimeoutMs: Int32 = 120_000

    /// After this long without an answer from Kafka the worker reports itself not ready (and keeps retrying).
    public var unreachableTimeoutMs = 60_000
    /// File that exists exactly while the worker is ready (for exec readiness probes); nil for none.
    public var readyFile: String?

    /// With an id, every cycle is one Kafka transaction: outputs, changelog records and the input
    /// offsets commit together, and a worker that lost its partitions is fenced. Must be unique
    /// per worker and stable across its restarts (e.g. the pod name); nil for none.
    public var transactionalID: String?

    /// The state changelog topic of this worker's group.
    public var changelogTopic: String { topics.changelog(forGroup: groupID) }

    /// The changelog a seeding backfill writes (`seedGroupID`'s), nil without seeding.
    public var seedChangelogTopic: String? { seedGroupID.map { topics.changelog(forGroup: $0) } }

    /// Most users a second that batch jobs (re-encodes for a new batch, tombstones for a retired
    /// one) handle, so that live events keep their latency.
    public var batchJobUsersPerSecond = 5_000.0
    /// Most users one batch-job step handles (one store scan, one encoder pass, one flush).
    public var batchJobPageUsers = 500

    /// Whether a stream worker keeps event-time timers: a user whose windows change with event time
    /// (a tile leaves a horizon) while they are silent gets a vector as of the partition's watermark
    /// (trigger `window_expiry`).
    public var windowTimers = true
    /// Most users a second whose timers fire, so that live events keep their latency.
    public var timerUsersPerSecond = 5_000.0
    /// Called on the worker thread after every cycle that did work (`run` and `backfill` return
    /// freed heap memory to the kernel there).
    public var afterCycle: (@Sendable () -> Void)?

    /// Creates a configuration.
    public init(kafka: KafkaConfiguration, stateDirectory: String) {
        self.kafka = kafka
        self.stateDirectory = stateDirectory
    }
}
