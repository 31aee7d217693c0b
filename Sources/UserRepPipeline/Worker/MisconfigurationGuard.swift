// Tells a misconfigured worker (a track table that does not fit its model, a wrong clock, a changed format) from bad input.
/// Watches the share of records refused for one reason over the last `window` of them: listens
/// refused as `unknown-track`, events refused as `event-time-ahead`, or events refused for their
/// form (`DeadLetterReason.isAboutForm`). When nearly all of them are refused, the cause is almost
/// never the input: the track table holds another embedding batch than the model's, or is empty,
/// or lags far behind; or the clock that stamps the records is wrong; or their producer changed
/// format (timestamps in seconds, renamed fields, Avro), or the topic holds other records.
/// Dead-lettering would then drain the stream and commit it, so the worker stops instead, before
/// committing the cycle. (`listens` counts the records watched, `unknown` the refused ones.)
struct MisconfigurationGuard: Sendable {
    /// Listens the ratio is measured over (the newest cycles adding up to at least this many).
    var window = 1_000
    /// Fewest listens before a verdict (so a handful of new tracks cannot stop a quiet worker).
    var minimumListens = 100
    /// Share of unknown-track listens at or above which the worker stops; above 1 never stops.
    var maxUnknownRatio = 0.9
    private var cycles: [(listens: Int, unknown: Int)] = []

    /// The verdict, were a cycle of `listens` listens with `unknown` unknown tracks added now.
    func trips(listens: Int, unknown: Int) -> Bool {
        var total = listens, refused = unknown
        for c in cycles.reversed() where total < window {
            total += c.listens
            refused += c.unknown
        }
        return total >= minimumListens && Double(refused) >= maxUnknownRatio * Double(total)
    }

    /// Records a committed cycle.
    mutating func record(listens: Int, unknown: Int) {
        guard listens > 0 else { return }
        cycles.append((listens, unknown))
        var total = 0
        var keep = cycles.count
        while keep > 0 && total < window {
            keep -= 1
            total += cycles[keep].listens
        }
        if keep > 0 { cycles.removeFirst(keep) }
    }
}
