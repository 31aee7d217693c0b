// Options shared by the commands that run a worker: how large a cycle is and how many threads it uses.
import ArgumentParser
import UserRepPipeline
import UserRepState

/// `--max-poll-records`, `--max-cycle-state-mb`, `--cycle-linger-ms`, `--threads`, the caches (`--state-cache-mb`, `--track-cache-mb`) and the state
/// store's RocksDB memory (`--state-db-cache-mb`, `--state-db-write-buffer-mb`), checked and applied to a
/// worker configuration.
struct CycleOptions: ParsableArguments {
    @Option(
        name: [.customLong("max-poll-records"), .customLong("max-batch", withSingleDash: false)],
        help: "Most records per poll cycle, and per poll of a changelog restore (at most 5,000 there; --max-batch is the old name).")
    var maxPollRecords = WorkerConfiguration.defaultMaxPollRecords
    @Option(
        help:
            "Most MiB of user state one cycle writes (its RocksDB batch and changelog records; a cycle holds about three times this at its peak): after a larger cycle the next polls take fewer records. Approximate; 0: no bound."
    )
    var maxCycleStateMb = WorkerConfiguration.defaultMaxCycleStateBytes >> 20
    @Option(
        help:
            "A stream worker's cycles start at least this many ms apart: once a record has come, a poll waits for more until then, so each cycle's fixed costs (produce requests, state write, offset commit) are shared by more records, for at most this much added latency (at most 1000; a stop waits for the gathering). 0: a cycle starts with whatever has come."
    )
    var cycleLingerMs = WorkerConfiguration.defaultCycleLingerMs
    @Option(help: "Threads for parsing, state updates, features + encoder and state serialization (defaults to the core count).")
    var threads = WorkerConfiguration.defaultComputeThreads
    @Option(help: "MiB of decoded user states kept in memory (the rest is read from RocksDB when needed).")
    var stateCacheMb = StateStore.defaultCacheBytes >> 20
    @Option(help: "MiB of track embeddings kept in memory (the whole table is in RocksDB under --state-dir; about 0.7 KB per track).")
    var trackCacheMb = WorkerConfiguration.defaultTrackCacheBytes >> 20
    @Option(help: "MiB of RocksDB block cache for the state store (raw blocks of states read from disk).")
    var stateDbCacheMb = StateStore.DatabaseMemory().blockCacheMB
    @Option(
        help:
            "MiB per RocksDB memtable of the state store (up to two, each flushed when full; a cycle's state write lands whole in one, however large)."
    )
    var stateDbWriteBufferMb = StateStore.DatabaseMemory().writeBufferMB

    func validate() throws {
        guard maxPollRecords >= 1 else { throw ValidationError("--max-poll-records must be at least 1, got \(maxPollRecords)") }
        guard (0...(1 << 30)).contains(maxCycleStateMb) else {
            throw ValidationError("--max-cycle-state-mb must be between 0 and \(1 << 30), got \(maxCycleStateMb)")
        }
        // A stop waits for a gathering poll to end, so the linger stays short enough for a prompt stop.
        guard (0...1_000).contains(cycleLingerMs) else {
            throw ValidationError("--cycle-linger-ms must be between 0 and 1000, got \(cycleLingerMs)")
        }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1, got \(threads)") }
        guard stateCacheMb >= 0 else { throw ValidationError("--state-cache-mb must not be negative, got \(stateCacheMb)") }
        guard trackCacheMb >= 1 else { throw ValidationError("--track-cache-mb must be at least 1, got \(trackCacheMb)") }
        guard stateDbCacheMb >= 1 else { throw ValidationError("--state-db-cache-mb must be at least 1, got \(stateDbCacheMb)") }
        guard stateDbWriteBufferMb >= 1 else {
            throw ValidationError("--state-db-write-buffer-mb must be at least 1, got \(stateDbWriteBufferMb)")
        }
    }

    /// Sets the cycle size and thread count of `config`.
    func apply(to config: inout WorkerConfiguration) {
        config.maxPollRecords = maxPollRecords
        config.maxCycleStateBytes = maxCycleStateMb << 20
        config.computeThreads = threads
        config.cycleLingerMs = cycleLingerMs
        config.stateCacheBytes = stateCacheMb << 20
        config.trackCacheBytes = trackCacheMb << 20
        config.stateDatabaseMemory = StateStore.DatabaseMemory(blockCacheMB: stateDbCacheMb, writeBufferMB: stateDbWriteBufferMb)
    }
}
