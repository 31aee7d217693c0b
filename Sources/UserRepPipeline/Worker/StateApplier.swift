// The apply stage of a cycle: each user's events folded into their state (pure; no I/O).
import UserRepModel
import UserRepState

/// Folds a cycle's events into the users' states, each user's in arrival order, users spread over threads.
struct StateApplier: Sendable {
    /// Embeddings of the tracks the listens name.
    let tracks: TrackTable
    /// Floats summed per listen (track embedding, then the device one-hot).
    let listenWidth: Int

    /// What applying a cycle did.
    struct Outcome: Sendable {
        /// Per user slot: whether the user is written and published. True when an event was new
        /// to the state, and also when the newest event the state reflects of its input topic was
        /// read again: a state ahead of the input position came from the changelog records of a
        /// cycle that may have failed before its outputs were delivered, and this redo is that
        /// vector's only chance. It is published once (at that event, not at every re-read one),
        /// with the update sequence it had, so a subscriber that has it drops it.
        var changed: [Bool] = []
        /// Events skipped because the state already reflected them.
        var duplicates = 0
        /// Listens applied.
        var listens = 0
        /// Onboarding events applied.
        var onboardings = 0
        /// Onboarding picks naming an artist with no track in the table.
        var unknownArtists = 0

        mutating func add(_ other: Outcome) {
            duplicates += other.duplicates
            listens += other.listens
            onboardings += other.onboardings
            unknownArtists += other.unknownArtists
        }
    }

    /// Applies `pending` to `states` (one per user slot); events a state already reflects are skipped.
    func apply(_ pending: PendingUpdates, to states: inout [UserState], threads: Int) -> Outcome {
        precondition(states.count == pending.users.count, "one state per pending user")
        let chunk = 1_024
        var changed = [Bool](repeating: false, count: states.count)
        var partial = [Outcome](repeating: Outcome(), count: ParallelLoop.chunkCount(count: states.count, chunk: chunk))
        states.withUnsafeMutableBufferPointer { s in
            changed.withUnsafeMutableBufferPointer { c in
                partial.withUnsafeMutableBufferPointer { p in
                    let (states, changed, partial) = (DisjointWrites(s), DisjointWrites(c), DisjointWrites(p))
                    ParallelLoop.forEachChunk(count: states.buffer.count, chunk: chunk, threads: threads) { k, range in
                        var vector = [Float](repeating: 0, count: listenWidth)
                        for user in range {
                            changed.buffer[user] = applyEvents(
                                of: user, pending, to: &states.buffer[user], vector: &vector, counting: &partial.buffer[k])
                        }
                    }
                }
            }
        }
        var outcome = Outcome()
        for p in partial { outcome.add(p) }
        outcome.changed = changed
        return outcome
    }

    /// Applies one user's events; returns whether the user is to be written and published
    /// (`Outcome.changed`).
    private func applyEvents(
        of user: Int, _ pending: PendingUpdates, to state: inout UserState, vector: inout [Float], counting outcome: inout Outcome
    ) -> Bool {
        var changed = false
        pending.forEachEvent(ofUser: user) { event, lane, offset in
            if state.hasApplied(offset: offset, lane: lane) {
                outcome.duplicates += 1
                if state.appliedOffsets[lane.rawValue] == offset { changed = true }
                return
            }
            state.markApplied(offset: offset, lane: lane)
            changed = true
            switch event {
            case .listen: outcome.listens += 1
            case .onboarding(let e):
                outcome.unknownArtists += e.artistIDs.filter { tracks.artistMean($0) == nil }.count
                outcome.onboardings += 1
            }
            Self.apply(event, to: &state, tracks: tracks, vector: &vector)
        }
        return changed
    }

    /// Applies one event to `state`, the worker's rule for each kind; `vector` is scratch space of
    /// the listen width (track embedding, then the device one-hot).
    static func apply(_ event: PendingUpdates.Event, to state: inout UserState, tracks: TrackTable, vector: inout [Float]) {
        switch event {
        case .listen(let time, let track, let device, let country):
            let trackWidth = tracks.width
            vector.withUnsafeMutableBufferPointer { v in
                tracks.withEmbedding(slot: track) { e in for k in 0..<trackWidth { v[k] = e[k] } }
                for k in trackWidth..<v.count { v[k] = 0 }
                if let device { v[trackWidth + device.rawValue] = 1 }
                state.applyListen(timeMs: time, vector: UnsafeBufferPointer(v), country: country)
            }
        case .onboarding(let e):
            state.applyOnboarding(timeMs: e.timestampMs, artists: e.artistIDs, languages: e.languages, country: e.country)
        }
    }
}
