// The event-time horizons a user's listening is aggregated over.

/// One sliding event-time window length (1 week, 1 month, 6 months in the paper).
public struct Horizon: Sendable, Hashable, CustomStringConvertible {
    /// Short stable name used in feature layouts and manifests ("1w", "1m", "6m").
    public let name: String
    /// Window length in milliseconds.
    public let lengthMs: Int64

    /// Creates a horizon with a name and a length.
    public init(name: String, lengthMs: Int64) {
        self.name = name
        self.lengthMs = lengthMs
    }

    /// One day in milliseconds.
    public static let dayMs: Int64 = 86_400_000
    /// The 1-week horizon (7 days).
    public static let week = Horizon(name: "1w", lengthMs: 7 * dayMs)
    /// The 1-month horizon (30 days).
    public static let month = Horizon(name: "1m", lengthMs: 30 * dayMs)
    /// The 6-month horizon (182 days).
    public static let halfYear = Horizon(name: "6m", lengthMs: 182 * dayMs)
    /// All horizons in feature order.
    public static let all: [Horizon] = [.week, .month, .halfYear]

    /// Looks a horizon up by its name.
    public static func named(_ name: String) -> Horizon? {
        all.first { $0.name == name }
    }

    public var description: String { name }
}
