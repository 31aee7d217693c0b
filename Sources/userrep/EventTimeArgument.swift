// An event time on the command line: ISO 8601 (UTC or with an offset) or milliseconds since the epoch.
import ArgumentParser
import Foundation

/// A point in event time given as `2024-05-01T00:00:00Z`, `2024-05-01` (midnight UTC) or `1714521600000`.
struct EventTimeArgument: ExpressibleByArgument, Sendable {
    /// Milliseconds since the Unix epoch.
    let ms: Int64

    init?(argument: String) {
        guard let ms = Self.parse(argument) else { return nil }
        self.ms = ms
    }

    /// The time `text` names, nil when it is neither form.
    static func parse(_ text: String) -> Int64? {
        if let ms = Int64(text), ms >= 0 { return ms }
        let withTime = ISO8601DateFormatter()
        withTime.formatOptions = [.withInternetDateTime]
        if let d = withTime.date(from: text) { return Int64((d.timeIntervalSince1970 * 1000).rounded()) }
        withTime.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let d = withTime.date(from: text) { return Int64((d.timeIntervalSince1970 * 1000).rounded()) }
        let dateOnly = ISO8601DateFormatter()
        dateOnly.formatOptions = [.withFullDate]
        if let d = dateOnly.date(from: text) { return Int64((d.timeIntervalSince1970 * 1000).rounded()) }
        return nil
    }

    static var defaultCompletionKind: CompletionKind { .default }
}
