// How many records the next poll takes: the record bound, cut to keep a cycle's state bytes bounded.

/// The poll limit of the next cycle. A cycle holds its users' states several times over at its
/// peak (decoded, serialized, in the write batch, in the memtable), so its memory grows with the
/// state bytes it writes, not with its record count (100k records wrote up to ~75 MB on the
/// unclustered 2M-listen backlog, 219 MB in 400k-record cycles). After each cycle
/// the limit becomes the records that would have written `maxStateBytes` at that cycle's bytes
/// per record, at most twice the last limit and never above `maxRecords`. The bound is
/// approximate: bytes per record change with a cycle's size (how many events of a user it
/// coalesces, how many tiles its span of event time touches) and rise as the users' states grow
/// through a backlog, so the cycle after a cut can still be over, and the cycles that follow
/// close in (on the 2M-listen backlog with 400k-record polls the largest wrote 1.45× the bound).
/// With a bound, the first cycle, with nothing to go on, takes an eighth of `maxRecords` (a slow
/// start: 12.5k, 25k, 50k, then 100k records when each fits).
struct CycleSizer: Sendable, Equatable {
    /// The upper bound (`--max-poll-records`).
    let maxRecords: Int
    /// Most serialized state bytes a cycle should write; 0 means no bound.
    let maxStateBytes: Int
    /// The next poll's limit.
    private(set) var limit: Int

    /// Starts at `maxRecords`, or an eighth of it with a byte bound.
    init(maxRecords: Int, maxStateBytes: Int) {
        precondition(maxRecords >= 1 && maxStateBytes >= 0, "a positive record bound and a non-negative byte bound")
        self.maxRecords = maxRecords
        self.maxStateBytes = maxStateBytes
        limit = maxStateBytes > 0 ? max(1, maxRecords / 8) : maxRecords
    }

    /// Learns from a cycle that read `records` and wrote `stateBytes` of serialized state.
    mutating func observe(records: Int, stateBytes: Int) {
        guard maxStateBytes > 0, records > 0 else { return }
        let grown = min(maxRecords, limit.multipliedReportingOverflow(by: 2).overflow ? maxRecords : 2 * limit)
        guard stateBytes > 0 else {
            limit = grown
            return
        }
        let fitting = Double(records) * Double(maxStateBytes) / Double(stateBytes)
        limit = max(1, min(grown, fitting >= Double(maxRecords) ? maxRecords : Int(fitting)))
    }
}
