// Event-time timers: a silent user's windows age with their partition's watermark.
import Foundation
import UserRepKafka
import UserRepModel
import UserRepState

extension StreamWorker {
    var timersEnabled: Bool { config.windowTimers && !isBackfill }

    /// The timers a cycle's changed users need: each one's next window change after its newest
    /// event (written with the states, in the same atomic write). Timers made stale by the change are
    /// left in place and dropped when they come due (`runTimerStep` checks each against the state).
    func timerChanges(_ changes: CycleChanges) -> [TimerChange] {
        guard timersEnabled else { return [] }
        return changes.users.indices.compactMap { i in
            let state = changes.states[i]
            return state.nextWindowChange().map { TimerChange(user: changes.users[i], old: nil, new: $0) }
        }
    }

    /// After a cycle's commit: the partitions' watermarks move to its newest event times.
    func advanceWatermarks(_ changes: CycleChanges) {
        guard timersEnabled else { return }
        for (user, state) in zip(changes.users, changes.states) where state.newestEventTimeMs > watermarks[user.partition] ?? Int64.min {
            watermarks[user.partition] = state.newestEventTimeMs
        }
    }

    /// On assignment, after the restore: rebuilds the timers of partitions whose states came from
    /// the changelog (or predate timers), and sets each partition's watermark to the newest event
    /// time of its stored users (the watermark is a function of the committed states, so a restart
    /// finds the one it had).
    func prepareTimers(_ partitions: Set<Int32>) throws {
        guard timersEnabled else { return }
        for p in partitions.sorted() {
            if try !store.timersBuilt(partition: p) {
                let scheduled = try store.rebuildTimers(partition: p)
                if scheduled > 0 {
                    logger.info(
                        "event-time timers rebuilt from the stored states", metadata: ["partition": "\(p)", "timers": "\(scheduled)"])
                }
            }
            watermarks[p] = try store.newestEventTime(partition: p)
        }
    }

    /// Whether any owned partition has a timer due at its watermark.
    func timersDue() throws -> Bool {
        guard timersEnabled else { return false }
        for (p, w) in watermarks where try !store.dueTimers(partition: p, upTo: w, limit: 1).isEmpty { return true }
        return false
    }

    /// Fires up to a page of due timers of one partition, within the rate limit: each user whose
    /// windows changed since their last vector gets one as of the watermark (trigger
    /// `window_expiry`, every live batch), then their next timer is scheduled. The outputs are
    /// delivered first; then a fired-timer record per user goes to the changelog
    /// (`CycleSink.emitTimersFired`) and the timers are committed (in a transaction, all of it
    /// at once). After a crash before the outputs are delivered the timers fire again as of the
    /// same watermark (the same records again, never one lost); after one between the local
    /// commit and the fired-timer records' delivery, a new owner of the partition fires them
    /// again; after one between those records' delivery and the local commit, the restore reads
    /// them and the timers left due are stale. Returns the due timers it handled (fired, or
    /// dropped as stale).
    /// `deferred`: see `runBatchJobStep`. While a page's timers wait for their outputs' delivery,
    /// no other page fires (it would find the same timers due).
    /// `unthrottled`: the rate limit is set aside and a step fires up to a second's worth of
    /// users (for the end of a `--stop-when-caught-up` run, when nothing is left to share the CPU with).
    @discardableResult
    func runTimerStep(deferred: Bool, unthrottled: Bool = false) throws -> Int {
        guard timersEnabled, !watermarks.isEmpty, !timerCommitPending else { return 0 }
        let now = Date().timeIntervalSinceReferenceDate
        if timerLimiter == nil { timerLimiter = RateLimiter(perSecond: config.timerUsersPerSecond, now: now) }
        // Too few tokens, no step: stale timers can wait for them, and no page is read for nothing.
        guard unthrottled || timerLimiter?.stepReady(now: now) == true else { return 0 }
        let tokens = unthrottled ? Int(max(1, config.timerUsersPerSecond)) : timerLimiter?.available(now: now) ?? 0
        // A page as large as the tokens allow: stale timers cost a state read, and every step an
        // idle worker takes costs a flush. Unthrottled, a page is a second's worth, fired whole.
        let limit = max(config.batchJobPageUsers, (unthrottled ? 1 : 4) * tokens)
        let order = watermarks.keys.sorted()
        for k in order.indices {
            let p = order[(k + timerCursor) % order.count]
            guard let watermark = watermarks[p] else { continue }
            let due = try store.dueTimers(partition: p, upTo: watermark, limit: limit)
            guard !due.isEmpty else { continue }
            timerCursor = (k + timerCursor + 1) % order.count
            return try fire(due, partition: p, watermark: watermark, now: now, deferred: deferred, unthrottled: unthrottled)
        }
        return 0
    }

    /// Whether the timer rate limit has the tokens for another step now.
    var timerTokensLeft: Bool { timerLimiter?.stepReady(now: Date().timeIntervalSinceReferenceDate) ?? false }

    /// Fires the users of `due` whose window really changes, as many as the rate limit allows
    /// now (it pays for encodes only), and drops the stale timers (users who listened since) of
    /// the page; the timers of users left for later stay due.
    private func fire(
        _ due: [(user: UserKey, timeMs: Int64)], partition: Int32, watermark: Int64, now: Double, deferred: Bool, unthrottled: Bool
    ) throws -> Int {
        let started = Date()
        var times: [UserKey: [Int64]] = [:]
        var users: [UserKey] = []
        for d in due {
            if times[d.user] == nil { users.append(d.user) }
            times[d.user, default: []].append(d.timeMs)
        }
        let loaded = try store.read(users)
        let firedBefore = try store.firedAsOf(users)
        var real: [(UserKey, UserState)] = []
        var stale = Set<UserKey>()
        for (i, (user, state)) in zip(users, loaded).enumerated() {
            // Due at a time after the newest event and after the last fired timer's as-of time, when
            // a tile really leaves a horizon: the vector published so far is older than that change.
            // (A timer at or before a fired one's time is left over from a process that died after
            // the step's records were committed but before its timers were: restored from the
            // changelog, the fired time says its vector is out.)
            guard let state,
                (times[user] ?? []).contains(where: {
                    $0 > max(state.newestEventTimeMs, firedBefore[i] ?? Int64.min) && state.windowChanges(at: $0)
                })
            else {
                stale.insert(user)
                continue
            }
            real.append((user, state))
        }
        let allowed = unthrottled ? real.count : timerLimiter?.take(real.count, now: now) ?? 0
        let fired = Array(real.prefix(allowed))
        guard !fired.isEmpty || !stale.isEmpty else { return 0 }
        let handled = stale.union(fired.map(\.0))
        var changes = due.filter { handled.contains($0.user) }.map { TimerChange(user: $0.user, old: $0.timeMs, new: nil) }
        for (user, state) in fired {
            if let next = state.nextWindowChange(after: watermark) { changes.append(TimerChange(user: user, old: nil, new: next)) }
        }
        var clock = StageClock()
        // Until the fired timers are committed, no other page fires (it would find them due again).
        timerCommitPending = true
        let committed = try checkpoint.commitJobStep(
            produce: { stepMetrics in
                guard !fired.isEmpty else { return }
                let asOf = [Int64](repeating: watermark, count: fired.count)
                for batch in batches.batches {
                    try batch.publisher.publish(
                        fired.map(\.0), fired.map(\.1), triggers: fired.map { _ in .windowExpiry },
                        tracks: try tracks.table(covering: fired.map(\.1)), asOf: asOf,
                        clock: &clock, metrics: &stepMetrics)
                }
            },
            confirm: { [sink] in
                if !fired.isEmpty { try sink.emitTimersFired(fired.map(\.0), asOfMs: watermark) }
            },
            afterCommit: { [weak self, store] in
                try store.commitTimers(changes, fired: fired.map { ($0.0, watermark) })
                self?.timerCommitPending = false
            }, deferred: deferred, metrics: &metrics)
        guard committed else {
            // Aborted: nothing was published or committed; the timers are due again.
            timerCommitPending = false
            return 0
        }
        metrics.timersFired += fired.count
        metrics.changelogRecords += fired.count
        metrics.timersStale += stale.count
        metrics.timerSteps += 1
        if !fired.isEmpty {
            // Timer steps run between cycles, so a cycle's own stage times do not show them.
            logger.debug(
                "timers fired",
                metadata: [
                    "partition": "\(partition)", "users": "\(fired.count)", "stale": "\(stale.count)", "watermark_ms": "\(watermark)",
                    "step_ms": "\(String(format: "%.1f", Date().timeIntervalSince(started) * 1000))",
                ])
        }
        return fired.count + stale.count
    }
}
