// The worker's metrics by phase: the counters kept outside `WorkerMetrics`, settled at a phase's end.
import Foundation

extension StreamWorker {
    /// Counters kept outside `metrics`, by the state store and the track table.
    struct OutsideCounters {
        var stateBytesWritten = 0, stateCacheMisses = 0, trackUpdates = 0, tracksOtherBatch = 0, trackCacheLoads = 0
    }

    private var outsideCounters: OutsideCounters {
        OutsideCounters(
            stateBytesWritten: store.stateBytesWritten, stateCacheMisses: store.cacheMisses, trackUpdates: tracks.applied,
            tracksOtherBatch: tracks.otherBatch, trackCacheLoads: tracks.cacheLoads)
    }

    /// Copies the store's and the track table's counters into `metrics`, as grown since the phase began.
    func syncOutsideCounters() {
        let now = outsideCounters, start = countersAtPhaseStart
        metrics.stateBytesWritten = now.stateBytesWritten - start.stateBytesWritten
        metrics.stateCacheMisses = now.stateCacheMisses - start.stateCacheMisses
        metrics.trackUpdates = now.trackUpdates - start.trackUpdates
        metrics.tracksOtherBatch = now.tracksOtherBatch - start.tracksOtherBatch
        metrics.trackCacheLoads = now.trackCacheLoads - start.trackCacheLoads
    }

    /// Completes `metrics` for the phase so far: the outside counters, the processing time and
    /// CPU (first record to the end of the last cycle) and the elapsed time.
    func settleMetrics() {
        syncOutsideCounters()
        metrics.processingSeconds = lastCycleEnd.map { $0.timeIntervalSince(firstRecordAt ?? $0) } ?? 0
        metrics.processingCPUSeconds = cpuAtLastCycleEnd.map { $0 - (cpuAtFirstRecord ?? $0) } ?? 0
        metrics.elapsedSeconds = Date().timeIntervalSince(phaseStarted)
    }

    /// Ends the current phase (see `onCaughtUp`): returns its settled metrics and starts counting afresh.
    func startNextPhase() -> WorkerMetrics {
        settleMetrics()
        telemetry?.sync(metrics)
        let finished = metrics
        metrics = WorkerMetrics()
        metrics.maxLatencySamples = finished.maxLatencySamples
        telemetry?.countAfresh()
        countersAtPhaseStart = outsideCounters
        phaseStarted = Date()
        (firstRecordAt, cpuAtFirstRecord, lastCycleEnd, cpuAtLastCycleEnd) = (nil, nil, nil, nil)
        return finished
    }
}
