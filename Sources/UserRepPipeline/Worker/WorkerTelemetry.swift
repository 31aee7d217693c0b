// A worker's metrics through swift-metrics: counters moved by the deltas of its WorkerMetrics.
import CoreMetrics
import Foundation
import UserRepKafka

/// The worker's metrics (`schemas/metrics.md`), made by one `MetricsFactory` (the Prometheus one in
/// `userrep run --metrics-port`). The worker calls `sync` once per loop: every counter moves by
/// what its `WorkerMetrics` field grew since, so counting stays in one place.
final class WorkerTelemetry {
    private let factory: any MetricsFactory
    private var last = WorkerMetrics()
    private var counters: [String: Counter] = [:]
    private var gauges: [String: Gauge] = [:]
    private var timers: [String: CoreMetrics.Timer] = [:]
    private let inputTopics: [String]

    init(factory: any MetricsFactory, inputTopics: [String]) {
        self.factory = factory
        self.inputTopics = inputTopics
    }

    /// The handle of metric `name` with `dimensions`, made by `make` the first time.
    private static func handle<H>(
        _ cache: inout [String: H], _ name: String, _ dimensions: [(String, String)], make: () -> H
    ) -> H {
        let key = name + dimensions.map { "|\($0.0)=\($0.1)" }.joined()
        if let h = cache[key] { return h }
        let h = make()
        cache[key] = h
        return h
    }

    private func counter(_ name: String, _ dimensions: [(String, String)] = []) -> Counter {
        Self.handle(&counters, name, dimensions) { Counter(label: name, dimensions: dimensions, factory: factory) }
    }

    private func gauge(_ name: String, _ dimensions: [(String, String)] = []) -> Gauge {
        Self.handle(&gauges, name, dimensions) { Gauge(label: name, dimensions: dimensions, factory: factory) }
    }

    private func add(_ name: String, _ dimensions: [(String, String)] = [], _ now: Int, _ before: Int) {
        if now > before { counter(name, dimensions).increment(by: now - before) }
    }

    /// Moves every counter by what `m` gained since the last call.
    func sync(_ m: WorkerMetrics) {
        for (lane, topic) in inputTopics.enumerated() {
            add("userrep_records_read_total", [("topic", topic)], m.recordsReadByLane[lane], last.recordsReadByLane[lane])
        }
        add("userrep_events_applied_total", [("topic", inputTopics[0])], m.listensApplied, last.listensApplied)
        if inputTopics.count > 1 {
            add("userrep_events_applied_total", [("topic", inputTopics[1])], m.onboardingsApplied, last.onboardingsApplied)
        }
        add("userrep_duplicates_skipped_total", [], m.duplicatesSkipped, last.duplicatesSkipped)
        add("userrep_input_records_lost_total", [], m.inputRecordsLost, last.inputRecordsLost)
        for (batch, counts) in m.outputsByBatch {
            let before = last.outputsByBatch[batch] ?? []
            for (i, trigger) in RepresentationTrigger.allCases.enumerated() {
                add(
                    "userrep_outputs_total", [("batch", batch), ("trigger", trigger.rawValue)], counts[i], i < before.count ? before[i] : 0)
            }
        }
        for (reason, n) in m.deadLetters { add("userrep_dead_letters_total", [("reason", reason)], n, last.deadLetters[reason] ?? 0) }
        add("userrep_changelog_records_total", [], m.changelogRecords, last.changelogRecords)
        add("userrep_changelog_bytes_total", [], m.changelogBytes, last.changelogBytes)
        add("userrep_state_bytes_written_total", [], m.stateBytesWritten, last.stateBytesWritten)
        add("userrep_cycles_total", [], m.cycles, last.cycles)
        add("userrep_rebalances_total", [], m.assignments, last.assignments)
        add("userrep_partitions_restored_total", [], m.partitionsRestored, last.partitionsRestored)
        add("userrep_restored_records_total", [], m.restoredRecords, last.restoredRecords)
        for (key, n) in m.batchJobUsers {
            let parts = key.split(separator: "/", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { continue }
            add("userrep_batch_job_users_total", [("kind", parts[0]), ("batch", parts[1])], n, last.batchJobUsers[key] ?? 0)
        }
        add("userrep_batch_jobs_completed_total", [], m.batchJobsCompleted, last.batchJobsCompleted)
        add("userrep_registry_changes_total", [("outcome", "applied")], m.registryChanges, last.registryChanges)
        add("userrep_registry_changes_total", [("outcome", "refused")], m.registryRefusals, last.registryRefusals)
        add("userrep_timers_fired_total", [], m.timersFired, last.timersFired)
        add("userrep_timer_steps_total", [], m.timerSteps, last.timerSteps)
        add("userrep_group_commit_failures_total", [], m.groupCommitFailures, last.groupCommitFailures)
        last = m
    }

    /// Takes the worker's metrics as started afresh (a new phase: see `StreamWorker.onCaughtUp`);
    /// the counters go on from where they are.
    func countAfresh() { last = WorkerMetrics() }

    /// Records one cycle's (or step's) stage durations in the per-stage histograms.
    func observe(_ clock: StageClock) {
        var total = 0.0
        for lap in clock.laps {
            timer("userrep_cycle_stage_seconds", [("stage", lap.stage)]).recordNanoseconds(Int64(lap.ms * 1e6))
            total += lap.ms
        }
        if !clock.laps.isEmpty { timer("userrep_cycle_seconds").recordNanoseconds(Int64(total * 1e6)) }
    }

    private func timer(_ name: String, _ dimensions: [(String, String)] = []) -> CoreMetrics.Timer {
        Self.handle(&timers, name, dimensions) { CoreMetrics.Timer(label: name, dimensions: dimensions, factory: factory) }
    }

    /// Sets the gauges: lag per assigned input partition, partitions owned, batch jobs still owed,
    /// readiness.
    func state(lag: [KafkaTopicPartition: Int64], jobsPending: Int, ready: Bool) {
        for (tp, value) in lag { gauge("userrep_consumer_lag", [("topic", tp.topic), ("partition", String(tp.partition))]).record(value) }
        gauge("userrep_partitions_assigned").record(lag.count)
        gauge("userrep_batch_jobs_pending").record(jobsPending)
        gauge("userrep_ready").record(ready ? 1 : 0)
    }
}
