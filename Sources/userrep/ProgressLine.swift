// A progress line on standard error, redrawn in place at most a few times a second.
import Foundation

/// Writes `\r`-redrawn progress lines to standard error (plain lines when it is not a terminal).
final class ProgressLine {
    private var last = Date.distantPast
    private let interactive = isatty(2) != 0
    private let started = Date()

    /// Draws `text` unless the previous line is younger than a quarter second (or `force`).
    func show(_ text: String, force: Bool = false) {
        let now = Date()
        guard force || now.timeIntervalSince(last) >= (interactive ? 0.25 : 5) else { return }
        last = now
        FileHandle.standardError.write(Data((interactive ? "\r\u{1B}[K" + text : text + "\n").utf8))
    }

    /// Ends the redrawn line.
    func finish() { if interactive { FileHandle.standardError.write(Data("\n".utf8)) } }

    /// Seconds since the line was created.
    var elapsed: Double { Date().timeIntervalSince(started) }

    /// `done/total (p%), rate unit/s, ETA s` for a job `elapsed` seconds in.
    static func counts(_ done: Int, _ total: Int, elapsed: Double, unit: String) -> String {
        let rate = Double(done) / max(elapsed, 1e-3)
        let eta = rate > 0 ? Double(total - done) / rate : 0
        return String(
            format: "%d/%d %@ (%.0f%%), %.0f %@/s, ETA %.0fs", done, total, unit, total > 0 ? 100 * Double(done) / Double(total) : 100,
            rate, unit, eta)
    }
}
