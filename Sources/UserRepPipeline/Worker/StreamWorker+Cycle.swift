// One poll cycle of the stream worker: parse, apply, serialize, then the checkpoint's commit.
import Foundation
import UserRepKafka
import UserRepModel
import UserRepState

extension StreamWorker {
    /// One poll cycle: poll → parse → apply → serialize → `CycleCheckpoint.commit`.
    func runCycle(count n: Int) throws {
        if firstRecordAt == nil { (firstRecordAt, cpuAtFirstRecord) = (Date(), ProcessCPU.seconds()) }
        defer { (lastCycleEnd, cpuAtLastCycleEnd) = (Date(), ProcessCPU.seconds()) }
        pending.reset()
        tracks.sweep()
        // Parse on every compute thread, then group by user in arrival order.
        let records = polled.sharedView()
        // Refused track records go out with this cycle's dead letters (those a parse reads in come next cycle).
        var rejected: [(DeadLetterRecord, InputRejection)] = tracks.rejected.map { ($0.record, $0.reason) }
        let trackRejections = rejected.count
        let parsed = try parseRefusingMisconfiguration(records)
        // Next offset per (lane, partition): the per-record update hashes no topic name.
        var nextByLane: [LanePartition: Int64] = [:]
        var timestamps: [Int64] = []
        if recordLatency { timestamps.reserveCapacity(n) }
        var clock = StageClock()
        for i in 0..<n {
            let m = records[i]
            metrics.recordsRead += 1
            if let lane = m.lane { metrics.recordsReadByLane[lane.rawValue] += 1 }
            switch parsed[i] {
            case .foreign:
                continue
            case .event(let user, let event):
                if case .listen(_, let track, _, _) = event { tracks.markUsed(track) }
                pending.add(user: user, event, lane: m.lane ?? .listens, offset: m.offset)
                if recordLatency, let ts = m.timestampMs { timestamps.append(ts) }
            case .rejected(let record, let rejection):
                rejected.append((record, rejection))
            case .afterCutoff:
                metrics.eventsAfterCutoff += 1
            case .beforeHandOff:
                metrics.eventsBeforeHandOff += 1
            }
            if let lane = m.lane { nextByLane[LanePartition(lane: lane, partition: m.partition)] = m.offset + 1 }
        }
        // Everything needed of the records is copied out: free librdkafka's copies (and the fetch
        // buffers they pin) now, not at the next poll, so they are not held through the commit.
        polled.reset()
        let cycleOffsets = Dictionary(
            uniqueKeysWithValues: nextByLane.map { key, next in
                (KafkaTopicPartition(topic: inputTopics[key.lane.rawValue], partition: key.partition), next)
            })
        clock.lap("parse", into: &metrics)
        // Apply the cycle's events to state, in arrival order per user.
        var states = try store.checkOut(pending.users).map { $0 ?? UserState(width: batches.listenWidth) }
        try tracks.loadArtists(pending.onboardingArtists)
        clock.lap("load", into: &metrics)
        let outcome = StateApplier(tracks: tracks.table, listenWidth: batches.listenWidth)
            .apply(pending, to: &states, threads: config.computeThreads)
        metrics.duplicatesSkipped += outcome.duplicates
        metrics.listensApplied += outcome.listens
        metrics.onboardingsApplied += outcome.onboardings
        metrics.unknownArtists += outcome.unknownArtists
        clock.lap("apply", into: &metrics)
        // The changed users and the trigger of their output; their states move to the front of
        // `states` (swapped, not copied) and the unchanged ones are dropped.
        var changes = CycleChanges()
        changes.users.reserveCapacity(states.count)
        changes.triggers.reserveCapacity(states.count)
        for i in states.indices where outcome.changed[i] {
            states.swapAt(changes.users.count, i)
            changes.users.append(pending.users[i])
            changes.triggers.append(pending.onboarded[i] ? .onboarding : .listen)
        }
        states.removeLast(states.count - changes.users.count)
        changes.states = states
        changes.timers = timerChanges(changes)
        // Allocated for this cycle and freed after it (the producer keeps it until its changelog
        // records are delivered): a block kept from cycle to cycle held the largest cycle's size.
        var encoded = EncodedStates()
        encoded.encode(changes.states, previous: store.storedTiles(changes.users), threads: config.computeThreads)
        let stateBytes = encoded.byteCount
        clock.lap("serialize", into: &metrics)

        // The group may have moved our partitions while we worked: then they are someone else's.
        // (A backfill assigns its partitions itself, and never loses them.)
        if consumer.assignmentLost {
            logger.warning("assignment lost during a cycle; dropping it unpublished", metadata: ["records": "\(n)"])
            checkpoint.discard(partitions: Set(cycleOffsets.keys.map(\.partition)), metrics: &metrics)
            return
        }
        guard
            try checkpoint.commit(
                changes, encoded: consume encoded, rejected: rejected, inputOffsets: cycleOffsets, sink: sink,
                metrics: &metrics, clock: &clock)
        else { return }
        try tracks.deadLettersSent(trackRejections)
        advanceWatermarks(changes)
        sizer.observe(records: n, stateBytes: stateBytes)
        metrics.largestCycleStateBytes = max(metrics.largestCycleStateBytes, stateBytes)
        // Where a slow cycle's time went, for whoever is on call (`--log-level debug`).
        logger.debug(
            "cycle",
            metadata: [
                "records": "\(n)", "users": "\(changes.users.count)", "state_bytes": "\(stateBytes)", "next_poll_limit": "\(sizer.limit)",
                "stages_ms": "\(clock.summary)",
            ])

        telemetry?.observe(clock)
        if recordLatency {
            let now = checkpoint.lastDeliveryMs
            for ts in timestamps where metrics.latencySamplesMs.count < metrics.maxLatencySamples {
                metrics.latencySamplesMs.append(Double(now - ts))
            }
        }
        metrics.cycles += 1
        config.afterCycle?()
    }

    /// Parses the polled records; throws, before anything of it is committed, when nearly all recent
    /// listens name unknown tracks even after the track table is read to its end (the table does
    /// not fit the model), or nearly all recent events are refused for their form (a changed
    /// format) or stamped ahead of their records (a wrong clock): see `MisconfigurationGuard`.
    func parseRefusingMisconfiguration(_ records: KafkaRecordsView) throws -> [ParsedRecord] {
        try refuseTopicsPartitionedApart(records)
        var parsed = try parse(records)
        var listens = listenCounts(parsed)
        if misconfiguration.trips(listens: listens.total, unknown: listens.unknown) {
            // Perhaps the track table lags behind the listens: read it to its end and look again.
            _ = try tracks.catchUp(shouldStop: { false })
            parsed = try parse(records)
            listens = listenCounts(parsed)
            if misconfiguration.trips(listens: listens.total, unknown: listens.unknown) {
                throw WorkerError(
                    "\(listens.unknown) of \(listens.total) listens of this cycle name tracks that are not in the track table of embedding batch '\(tracks.table.batchID)' (\(tracks.count) tracks); that is a track table that does not fit the model, not bad input, so the worker stops before committing them (--max-unknown-track-ratio \(config.maxUnknownTrackRatio)). Import the batch's tracks or run the model of the batch the table holds"
                )
            }
        }
        misconfiguration.record(listens: listens.total, unknown: listens.unknown)
        let events = eventCounts(parsed)
        if formGuard.trips(listens: events.total, unknown: events.malformed) {
            let first = parsed.lazy.compactMap { p -> InputRejection? in
                guard case .rejected(_, let r) = p, r.reason.isAboutForm else { return nil }
                return r
            }.first
            throw WorkerError(
                "\(events.malformed) of \(events.total) events of this cycle are refused for their form (first: \(first.map { "\($0)" } ?? "none in this cycle, but in the cycles before it")); so many are a producer that changed format, or a topic of other records, not bad input, so the worker stops before committing them rather than dead-letter the stream (--max-malformed-ratio \(config.maxMalformedRatio)). Fix the producers (see schemas/), or, to dead-letter them all, set --max-malformed-ratio above 1"
            )
        }
        if clockGuard.trips(listens: events.total, unknown: events.ahead) {
            throw WorkerError(
                "\(events.ahead) of \(events.total) events of this cycle are stamped more than \(config.maxEventTimeAheadMs.map { $0 / 3_600_000 } ?? 0) h after their records' timestamps; so many are a wrong clock where the records are produced (or a timestamp_ms that is not the event's time), not bad input, so the worker stops before committing them rather than dead-letter the stream (event-time-ahead). Fix the producers' clock, or raise --max-event-time-ahead-hours (0: no bound)"
            )
        }
        clockGuard.record(listens: events.total, unknown: events.ahead)
        formGuard.record(listens: events.total, unknown: events.malformed)
        return parsed
    }

    /// Throws, before anything of the cycle is committed, once the input topics' records show two
    /// different key partitioners (see `CoPartitioningGuard`).
    func refuseTopicsPartitionedApart(_ records: KafkaRecordsView) throws {
        guard config.checkCoPartitioning, inputTopics.count > 1 else { return }
        for i in 0..<records.count {
            let record = records[i]
            guard record.topicIndex >= 0, let key = record.key else { continue }
            coPartitioning.observe(topic: record.topicIndex, key: key, partition: record.partition)
        }
        guard let (a, b) = coPartitioning.conflict else { return }
        throw WorkerError(
            "topic '\(inputTopics[a])' is partitioned \(coPartitioning.describe(a)) and topic '\(inputTopics[b])' \(coPartitioning.describe(b)) (over \(coPartitioning.records[a]) and \(coPartitioning.records[b]) keyed records): a user's events land in different partitions of the two, and the worker, which keeps a user's state with their partition, would keep two states for them. So it stops before committing. Produce both topics with one partitioner: in librdkafka clients -X partitioner=murmur2_random is the Java client's default, and -X partitioner=consistent_random librdkafka's (--no-co-partitioning-check runs on regardless)"
        )
    }

    /// Parses the polled records on the compute threads. Listens naming a track the cache does
    /// not hold are parsed again once the tracks are read from the store.
    func parse(_ records: KafkaRecordsView) throws -> [ParsedRecord] {
        var parsed = validator.parse(records, threads: config.computeThreads, chunk: config.parseChunkRecords)
        guard tracks.isCache else { return parsed }
        var misses: [Int] = []
        var trackIDs: [[UInt8]] = []
        for i in parsed.indices {
            guard case .rejected(_, let r) = parsed[i], r.reason == .unknownTrack, let value = records[i].value,
                let listen = try? ListenEvent.parse(value)
            else { continue }
            misses.append(i)
            trackIDs.append(listen.trackID)
        }
        guard !misses.isEmpty, try tracks.resolve(trackIDs) > 0 else { return parsed }
        let again = validator
        for i in misses { parsed[i] = again.parse(records[i]) }
        return parsed
    }

    var validator: EventValidator {
        EventValidator(
            maxRecordBytes: config.maxRecordBytes, tracks: tracks.table, untilMs: config.untilMs, handOffMs: handOffMs,
            maxAheadMs: config.maxEventTimeAheadMs)
    }

    /// Events of a parse (applied, left out or refused), those refused as stamped ahead of their
    /// records, and those refused for their form.
    func eventCounts(_ parsed: [ParsedRecord]) -> (total: Int, ahead: Int, malformed: Int) {
        var total = 0, ahead = 0, malformed = 0
        for p in parsed {
            switch p {
            case .foreign: continue
            case .rejected(_, let r) where r.reason == .eventTimeAhead: total += 1; ahead += 1
            case .rejected(_, let r) where r.reason.isAboutForm: total += 1; malformed += 1
            default: total += 1
            }
        }
        return (total, ahead, malformed)
    }

    /// Listens of a parse (valid or not) and those refused for naming an unknown track.
    func listenCounts(_ parsed: [ParsedRecord]) -> (total: Int, unknown: Int) {
        var total = 0, unknown = 0
        for p in parsed {
            switch p {
            case .event(_, .listen): total += 1
            case .rejected(_, let r) where r.reason == .unknownTrack: total += 1; unknown += 1
            case .rejected(let record, _) where record.topic == inputTopics[0]: total += 1
            default: break
            }
        }
        return (total, unknown)
    }
}
