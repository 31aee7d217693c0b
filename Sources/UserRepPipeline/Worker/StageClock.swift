// Attributes a cycle's wall time to its stages, for the metrics and the debug log.
import Dispatch

/// Attributes elapsed wall time to the stages of a cycle.
struct StageClock {
    private var last = DispatchTime.now().uptimeNanoseconds
    /// This clock's stages and their milliseconds, in order.
    private(set) var laps: [(stage: String, ms: Double)] = []

    mutating func lap(_ stage: String, into metrics: inout WorkerMetrics) {
        let now = DispatchTime.now().uptimeNanoseconds
        metrics.stageSeconds[stage, default: 0] += Double(now - last) / 1e9
        laps.append((stage, Double(now - last) / 1e6))
        last = now
    }

    /// The laps as `stage=ms` pairs, for a log line.
    var summary: String { laps.map { String(format: "%@=%.1f", $0.stage, $0.ms) }.joined(separator: " ") }
}
