// Reads the compacted track-embeddings topic into a TrackTable and keeps it current.
import Logging
import UserRepKafka
import UserRepModel
import UserRepState

/// Every worker reads all partitions of the track topic (a global table, like a Kafka Streams
/// GlobalKTable), then whatever arrives, between poll cycles.
///
/// A worker keeps the table in a `TrackStore` in its state directory and reads the topic on from
/// the store's offsets: a restart reads only what changed. `table` is then a cache bounded in
/// bytes of the tracks the cycles use, filled from the store (`resolve`, `loadArtists`) and swept
/// between cycles (`sweep`). Without a store (offline commands) the whole topic is read into `table`.
final class TrackTableReader {
    private let reader: WholeTopicReader
    private var topic: String { reader.topic }
    private(set) var table: TrackTable
    private let store: TrackStore?
    /// Most bytes `table` keeps between cycles (with a store).
    private let cacheBytes: Int
    /// Per cached slot, whether a cycle used it since the last sweep.
    private var used: [Bool] = []
    /// Artists asked for that the store has no track of (not asked again until a sweep).
    private var artistsWithoutTracks = Set<[UInt8]>()
    private let logger: Logger
    /// Per track partition, the offset below which invalid records were dead-lettered already
    /// (by an earlier run of this worker): they are counted, not dead-lettered again.
    private let deadLettered: [Int32: Int64]
    /// Invalid track records, handed to the worker for dead-lettering (`deadLettersSent`).
    private(set) var rejected: [(record: DeadLetterRecord, reason: InputRejection)] = []
    /// Records of the model's batch applied, and of other batches skipped, by this run.
    private(set) var applied = 0, otherBatch = 0
    /// Totals over the whole table (the store's, with a store).
    private var totals: TrackStore.Counters
    /// Tracks read from the store into the cache by this run.
    private(set) var cacheLoads = 0

    /// A reader of `topic` for the model's `batchID` and `dims`; with `storeDirectory`, the table
    /// is kept there and `table` caches at most `cacheBytes` of it.
    init(
        kafka: KafkaConfiguration, topic: String, batchID: String, dims: ModelManifest.EmbeddingDims,
        storeDirectory: String? = nil, cacheBytes: Int = WorkerConfiguration.defaultTrackCacheBytes,
        deadLettered: [Int32: Int64] = [:], logger: Logger
    ) throws {
        var opened: TrackStore?
        reader = try WholeTopicReader(
            kafka: kafka, topic: topic, groupID: "userrep-track-table",
            missing: "track topic '\(topic)' does not exist; create it or import tracks with `userrep tracks import`"
        ) { partitions, watermarks in
            guard let storeDirectory else { return [:] }
            let store = try TrackStore(
                directory: storeDirectory,
                identity: TrackStore.Identity(topic: topic, batchID: batchID, dims: dims, partitions: partitions))
            opened = store
            return try Self.startOffsets(store, watermarks: watermarks)
        }
        store = opened
        if let reason = opened?.emptiedBecause {
            logger.warning("the local track table was emptied and is read again from the topic's start: \(reason)")
        }
        self.cacheBytes = cacheBytes
        self.logger = logger
        self.deadLettered = deadLettered
        totals = opened?.counters ?? TrackStore.Counters()
        table = TrackTable(batchID: batchID, dims: dims, derivesArtistMeans: opened == nil)
    }

    /// Where to read each partition from: the store's resume offsets, unless the topic no longer
    /// has them (recreated, or records deleted), or no usable track was stored: then from the start.
    /// A resume offset past a partition's listed end is checked against a fetch response's end
    /// first: on a broker whose listed end lags its log (Tansu), every restart emptied the table
    /// and read the whole topic again.
    private static func startOffsets(
        _ store: TrackStore, watermarks: (_ positions: [Int32: Int64]) throws -> [Int32: KafkaWatermarks]
    ) throws -> [Int32: Int64] {
        guard store.counters.tracks > 0 else {
            if !store.resume.isEmpty { try store.empty() }
            return [:]
        }
        for (p, w) in try watermarks(store.resume).sorted(by: { $0.key < $1.key }) {
            let at = store.resume[p] ?? 0
            if at > w.high || (at < w.low && at > 0) {
                try store.empty(
                    because: "partition \(p) of the topic holds offsets \(w.low)..<\(w.high), the local table had read to \(at)")
                return [:]
            }
        }
        return store.resume
    }

    /// Records a catch-up reads before it flushes the local copy's memtables to disk.
    static let flushAfterRecords = 10_000

    /// Tracks of the model's batch in the whole table.
    var count: Int { store == nil ? table.count : totals.tracks }

    /// Reads until every partition has reached its end as of now; false if `shouldStop` ended it first.
    func catchUp(shouldStop: () -> Bool) throws -> Bool {
        let before = applied
        while !reader.isAtEnd {
            guard !shouldStop() else { return false }
            try poll(timeoutMs: 100)
        }
        // A large read (a first start writes the whole copy) goes to disk now: otherwise its
        // memtables (200k tracks: about 0.15 GB) stay in memory all run, and its log is read back
        // into them at the next start.
        if let store, applied - before >= Self.flushAfterRecords { try store.flush() }
        logger.info(
            "track table loaded",
            metadata: [
                "tracks": "\(count)", "batch": "\(table.batchID)", "read": "\(applied)", "other_batch_skipped": "\(otherBatch)",
            ])
        return true
    }

    /// Throws unless the table holds tracks of the model's embedding batch with the model's
    /// dimensions. A worker with no usable track would dead-letter every listen as
    /// `unknown-track` and commit them: a misconfiguration must stop it instead.
    func requireFitsModel() throws {
        let want = "\(table.dims.audio)+\(table.dims.collaborative)"
        if let seen = totals.seenDims, seen.count == 2, totals.otherDims > count {
            throw WorkerError(
                "the track table (topic '\(topic)') holds \(totals.otherDims) tracks of embedding batch '\(table.batchID)' with \(seen[0])+\(seen[1]) dimensions, but the model expects \(want) (and only \(count) tracks fit); the model and the track table do not belong together"
            )
        }
        guard count > 0 else {
            let others = totals.otherBatches.sorted().prefix(3).map { "'\($0)'" }.joined(separator: ", ")
            throw WorkerError(
                "the track table (topic '\(topic)') holds no track of the model's embedding batch '\(table.batchID)'"
                    + (totals.otherBatch > 0
                        ? " (\(totals.otherBatch) records of other batches: \(others))" : " (the topic has no valid track record)")
                    + "; every listen would be dead-lettered. Import that batch's tracks (`userrep tracks import`) or run the model of the batch the table holds"
            )
        }
    }

    /// Applies whatever track records are waiting (without blocking when `timeoutMs` is 0).
    func poll(timeoutMs: Int32 = 0) throws {
        var changes: [TrackStore.Change] = []
        var read: [Int32: Int64] = [:]
        try reader.poll(maxMessages: 10_000, timeoutMs: timeoutMs) { m in
            read[m.partition] = max(read[m.partition] ?? 0, m.offset + 1)
            // Below the store's applied offset, a record is read again only for its dead letter.
            let isNew = m.offset >= store?.applied[m.partition] ?? 0
            guard let value = m.value else {
                if isNew, let key = m.key { changes.append(.remove(trackID: Array(key))) }
                return
            }
            do throws(InputRejection) {
                let record = try TrackRecord.parse(value, audioDims: table.dims.audio, collaborativeDims: table.dims.collaborative)
                guard record.batchID == table.batchID else {
                    guard isNew else { return }
                    otherBatch += 1
                    totals.otherBatch += 1
                    if totals.otherBatches.count < 8, !totals.otherBatches.contains(record.batchID) {
                        totals.otherBatches.append(record.batchID)
                    }
                    return
                }
                guard let key = m.key, key.elementsEqual(record.trackID) else {
                    throw InputRejection(
                        .keyMismatch, m.key == nil ? "track record has no key; key it by track_id" : "record key differs from track_id")
                }
                guard isNew else { return }
                changes.append(
                    .upsert(
                        trackID: record.trackID, TrackStore.Track(artistID: record.artistID, embedding: record.audio + record.collaborative)
                    ))
                applied += 1
            } catch {
                if isNew, error.reason == .invalidField, let dims = TrackRecord.dimensions(value), dims.batchID == table.batchID {
                    totals.otherDims += 1
                    if totals.seenDims == nil { totals.seenDims = [dims.audio, dims.collaborative] }
                }
                guard m.offset >= deadLettered[m.partition] ?? 0 else { return }
                rejected.append((DeadLetterRecord(message: m), error))
            }
        }
        guard !read.isEmpty else { return }
        guard let store else {
            for c in changes { applyToTable(c) }
            return
        }
        let newApplied = read.filter { $0.value > store.applied[$0.key] ?? 0 }
        let changedArtists = try store.apply(changes, applied: newApplied, resume: resumeOffsets(after: read), counters: totals)
        totals = store.counters
        // The cache follows: changed tracks it holds are replaced or dropped, changed artists dropped.
        for c in changes where table.contains(c.trackID) { applyToTable(c) }
        for artist in changedArtists {
            table.setArtist(artist, nil)
            artistsWithoutTracks.remove(artist)
        }
    }

    private func applyToTable(_ change: TrackStore.Change) {
        switch change {
        case .upsert(let id, let t): table.upsert(trackID: id, artistID: t.artistID, embedding: t.embedding)
        case .remove(let id): table.remove(trackID: id)
        }
    }

    /// Per partition of `read`, where the next start reads from: after what was read, or at the
    /// first refused record not dead-lettered yet.
    private func resumeOffsets(after read: [Int32: Int64]) -> [Int32: Int64] {
        var resume = read.filter { $0.value > store?.resume[$0.key] ?? 0 }
        for r in rejected where r.record.topic == topic {
            resume[r.record.partition] = min(resume[r.record.partition] ?? .max, r.record.offset, store?.resume[r.record.partition] ?? .max)
        }
        return resume
    }

    /// The first `count` refused records were dead-lettered (and the state store remembers it):
    /// they leave `rejected`, and the next start no longer reads them again.
    func deadLettersSent(_ count: Int) throws {
        guard count > 0 else { return }
        let sent = rejected.prefix(count)
        rejected.removeFirst(count)
        guard let store else { return }
        var resume: [Int32: Int64] = [:]
        for r in sent { resume[r.record.partition] = store.applied[r.record.partition] ?? 0 }
        for r in rejected { resume[r.record.partition] = min(resume[r.record.partition] ?? .max, r.record.offset) }
        try store.setResume(resume.filter { $0.value > store.resume[$0.key] ?? 0 })
    }

    // MARK: The cache (with a store)

    /// Whether `table` caches a store (tracks it does not hold may still exist).
    var isCache: Bool { store != nil }

    /// Reads the stored tracks among `trackIDs` that the cache does not hold into it; returns how
    /// many it found.
    func resolve(_ trackIDs: [[UInt8]]) throws -> Int {
        guard let store else { return 0 }
        let ids = trackIDs.filter { !table.contains($0) }.distinctInOrder()
        guard !ids.isEmpty else { return 0 }
        var found = 0
        for (id, track) in zip(ids, try store.tracks(ids)) {
            guard let track, track.embedding.count == table.width else { continue }
            table.upsert(trackID: id, artistID: track.artistID, embedding: track.embedding)
            if let slot = table.slot(of: id) { markUsed(slot) }
            found += 1
        }
        cacheLoads += found
        return found
    }

    /// Marks a cached track as used by this cycle (a sweep keeps used tracks first).
    func markUsed(_ slot: Int32) {
        let s = Int(slot)
        if s >= used.count { used.append(contentsOf: repeatElement(false, count: s + 1 - used.count)) }
        used[s] = true
    }

    /// Reads the sums of `artists` that the cache does not hold (onboarding picks).
    func loadArtists(_ artists: some Sequence<[UInt8]>) throws {
        guard let store else { return }
        let ids = artists.filter { !table.holdsArtist($0) && !artistsWithoutTracks.contains($0) }.distinctInOrder()
        guard !ids.isEmpty else { return }
        for (id, sum) in zip(ids, try store.artistSums(ids)) {
            if let sum, sum.sums.count == table.width { table.setArtist(id, sum) } else { artistsWithoutTracks.insert(id) }
        }
    }

    /// The table, holding the sums of the artists `states` picked at onboarding (for encoding them).
    func table(covering states: [UserState]) throws -> TrackTable {
        // Indexed, not `states.lazy.flatMap(\.profile.artists)`: the key path copied every state
        // (a retain and release of each of its arrays) to read one field, mostly empty.
        if store != nil { try loadArtists(states.indices.lazy.flatMap { states[$0].profile.artists }) }
        return table
    }

    /// Between cycles: a cache over its bound drops artist sums and the tracks no cycle used since
    /// the last sweep, then others, down to nine tenths of the bound.
    func sweep() {
        guard store != nil, table.residentBytes > cacheBytes else { return }
        let target = cacheBytes / 10 * 9
        table.removeAllArtists()
        artistsWithoutTracks.removeAll()
        let used = self.used
        let removed = table.removeTracks(downTo: target) { slot in Int(slot) >= used.count || !used[Int(slot)] }
        self.used = [Bool](repeating: false, count: used.count)
        logger.debug(
            "track cache swept", metadata: ["removed": "\(removed)", "held": "\(table.count)", "bytes": "\(table.residentBytes)"])
    }

    /// Writes the store's memtables to disk (on a clean stop).
    func flush() throws { try store?.flush() }
}
