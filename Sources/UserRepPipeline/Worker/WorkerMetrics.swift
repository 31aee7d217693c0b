// Counters and latency samples of a worker, printed on shutdown and read by the benchmark.
import Foundation

/// What a worker has done. Updated by the worker thread; read after it stops or from its thread.
public struct WorkerMetrics: Sendable {
    /// Input records read (valid or not).
    public var recordsRead = 0
    /// Input records the brokers deleted (retention) after the worker's stored position and before
    /// it read them: lost, reported, and the partition resumed at its first record still kept.
    public var inputRecordsLost = 0
    /// Input records read per input lane (listens, onboarding).
    public var recordsReadByLane = [0, 0]
    /// Listens applied to state.
    public var listensApplied = 0
    /// Onboarding events applied to state.
    public var onboardingsApplied = 0
    /// Valid events read but left out for being later than `--until`.
    public var eventsAfterCutoff = 0
    /// Live events at or before a seeded state's hand-off time: in the state already, not applied.
    public var eventsBeforeHandOff = 0
    /// Picked artists with no track in the table (skipped, not fatal).
    public var unknownArtists = 0
    /// Bytes of user state written to the store (keys and values of heads and tiles).
    public var stateBytesWritten = 0
    /// Bytes of user state produced to the changelog (keys and values of heads, tiles and tile
    /// tombstones).
    public var changelogBytes = 0
    /// User states loaded from RocksDB rather than the state store's cache.
    public var stateCacheMisses = 0
    /// Records skipped because the user's state already reflected them (re-read after a crash
    /// or a rebalance).
    public var duplicatesSkipped = 0
    /// Records written to the changelog (heads, tiles, tile tombstones, fired timers).
    public var changelogRecords = 0
    /// Rebalances that assigned partitions to this worker.
    public var assignments = 0
    /// Partitions restored from the changelog, and changelog records read doing so.
    public var partitionsRestored = 0, restoredRecords = 0
    /// Cycles dropped unpublished because the group had taken the partitions away meanwhile.
    public var cyclesDiscarded = 0
    /// Output records published.
    public var outputsPublished = 0
    /// Output records per model batch, per trigger (indexed as `RepresentationTrigger.allCases`).
    public var outputsByBatch: [String: [Int]] = [:]
    /// Users handled by batch jobs, keyed `kind/batch`.
    public var batchJobUsers: [String: Int] = [:]
    /// Users encoded (rows through the encoder).
    public var usersEncoded = 0
    /// Dead-lettered records per reason.
    public var deadLetters: [String: Int] = [:]
    /// Dead letters whose key or value was cut to fit (`dlq.truncated` header).
    public var deadLettersTruncated = 0
    /// Confirmed (synchronous) group offset commits, and ones that failed and were retried.
    public var groupCommits = 0, groupCommitFailures = 0
    /// Poll cycles that did work.
    public var cycles = 0
    /// Serialized state bytes written by the largest cycle (see `WorkerConfiguration.maxCycleStateBytes`).
    public var largestCycleStateBytes = 0
    /// Seconds from the first record read to the end of the last cycle.
    public var processingSeconds = 0.0
    /// CPU seconds of the whole process over `processingSeconds` (its Kafka clients' threads included;
    /// in `bench` and `demo` the embedded cluster's too): start-up and the end are left out.
    public var processingCPUSeconds = 0.0
    /// Seconds from the worker's start (or its phase's: see `StreamWorker.onCaughtUp`) to the end of its
    /// run (start-up, group join and the end included).
    public var elapsedSeconds = 0.0
    /// Seconds per stage of the cycle: poll, parse, load, apply, encode, produce, flush, commit
    /// (staging the state write, and waiting for the previous cycle's if it is still going).
    public var stageSeconds: [String: Double] = [:]
    /// Seconds spent in the encoder (features, GEMMs, activations).
    public var encodeSeconds: Double { stageSeconds["encode"] ?? 0 }
    /// Track-table records applied, and refused because they belong to another embedding batch.
    public var trackUpdates = 0, tracksOtherBatch = 0
    /// Tracks read from the local track table into the bounded cache (a restart starts with none held).
    public var trackCacheLoads = 0
    /// Per-event latency samples (ms) from the event's produce time to its vector's delivery,
    /// one sample per event, capped in count.
    public var latencySamplesMs: [Double] = []
    /// Cap on stored latency samples.
    public var maxLatencySamples = 2_000_000

    /// Batch registry versions applied, and ones refused (a model that failed its checks).
    public var registryChanges = 0, registryRefusals = 0
    /// Users handled by batch jobs: re-encoded for a new batch, tombstoned for a retired one.
    public var usersReencoded = 0, usersTombstoned = 0
    /// Per-partition batch jobs finished (completion records written).
    public var batchJobsCompleted = 0
    /// Users re-encoded by an event-time timer (trigger `window_expiry`), and due timers dropped
    /// because a later event or timer had already covered them.
    public var timersFired = 0, timersStale = 0
    /// Timer steps that fired or dropped timers (each a page of one partition, with its own flush and commit).
    public var timerSteps = 0

    /// Total dead-lettered records.
    public var deadLetterTotal: Int { deadLetters.values.reduce(0, +) }

    mutating func deadLetter(_ reason: DeadLetterReason) { deadLetters[reason.rawValue, default: 0] += 1 }

    /// Counts one publication's records of `batch`.
    mutating func countOutputs(batch: String, triggers: [RepresentationTrigger]) {
        var counts = outputsByBatch[batch] ?? Array(repeating: 0, count: RepresentationTrigger.allCases.count)
        if let only = triggers.first, triggers.allSatisfy({ $0 == only }), let i = RepresentationTrigger.allCases.firstIndex(of: only) {
            counts[i] += triggers.count
        } else {
            for t in triggers { if let i = RepresentationTrigger.allCases.firstIndex(of: t) { counts[i] += 1 } }
        }
        outputsByBatch[batch] = counts
    }

    /// The `p`-th percentile (0...100) of latency samples, nil without samples; with `part`
    /// (`i` of `n`), of the `i`-th of `n` equal runs of samples in arrival order (at a constant
    /// offered rate, the `i`-th `n`-th of the run); nil for a part that is not one (`i` outside `0..<n`).
    public func latencyPercentile(_ p: Double, part: (i: Int, n: Int) = (0, 1)) -> Double? {
        guard part.n >= 1, (0..<part.n).contains(part.i) else { return nil }
        let count = latencySamplesMs.count
        let samples = latencySamplesMs[(count * part.i / part.n)..<(count * (part.i + 1) / part.n)]
        guard !samples.isEmpty else { return nil }
        let sorted = samples.sorted()
        let i = min(sorted.count - 1, max(0, Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1))
        return sorted[i]
    }

    /// Stage times as `stage=seconds` sorted by time spent.
    public var stageSummary: String {
        stageSeconds.sorted { $0.value > $1.value }.map { String(format: "%@=%.2fs", $0.key, $0.value) }.joined(separator: " ")
    }

    /// One-line summary for logs.
    public var summary: String {
        let dl = deadLetters.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
        return
            "read=\(recordsRead) listens=\(listensApplied) onboardings=\(onboardingsApplied)\(eventsAfterCutoff > 0 ? " after_until=\(eventsAfterCutoff)" : "")\(eventsBeforeHandOff > 0 ? " before_hand_off=\(eventsBeforeHandOff)" : "") unknown_artists=\(unknownArtists) outputs=\(outputsPublished) encoded=\(usersEncoded) dead_letters=\(deadLetterTotal)\(dl.isEmpty ? "" : " (\(dl))")\(deadLettersTruncated > 0 ? " truncated_dead_letters=\(deadLettersTruncated)" : "") cycles=\(cycles) largest_cycle_state_bytes=\(largestCycleStateBytes) duplicates_skipped=\(duplicatesSkipped)\(inputRecordsLost > 0 ? " input_records_lost=\(inputRecordsLost)" : "") changelog=\(changelogRecords) changelog_bytes=\(changelogBytes) state_bytes_written=\(stateBytesWritten) assignments=\(assignments) restored=\(restoredRecords)"
            + (registryChanges + registryRefusals + usersReencoded + usersTombstoned > 0
                ? " registry_changes=\(registryChanges) registry_refusals=\(registryRefusals) reencoded=\(usersReencoded) tombstoned=\(usersTombstoned) batch_jobs_completed=\(batchJobsCompleted)"
                : "")
            + " track_records=\(trackUpdates) track_cache_loads=\(trackCacheLoads)"
            + (timersFired + timersStale > 0 ? " timers_fired=\(timersFired) timers_stale=\(timersStale) timer_steps=\(timerSteps)" : "")
            + String(
                format: " elapsed=%.3fs processing=%.3fs events_per_s=%.0f processing_cpu=%.3fs cpu_us_per_event=%.1f",
                elapsedSeconds, processingSeconds, processingSeconds > 0 ? Double(recordsRead) / processingSeconds : 0,
                processingCPUSeconds, recordsRead > 0 ? processingCPUSeconds / Double(recordsRead) * 1e6 : 0)
    }
}
