// The worker's local copy of the track table: every track of one embedding batch, in a RocksDB of its own.
import Foundation
import UserRepModel

/// Every track of one embedding batch read from the compacted track topic, with each artist's
/// embedding sum and the topic offsets they reflect, written atomically together. A restart reads
/// the topic on from those offsets instead of from its start, and the worker keeps only the tracks
/// it uses in memory (`TrackTable` as a cache), so the catalogue may be larger than memory.
///
/// It is a copy: the topic is the source, and a store that does not match it (another topic,
/// batch, dimensions or partition count, or offsets the topic no longer has) is emptied and read
/// again.
public final class TrackStore: @unchecked Sendable {
    // Used from the worker thread only; RocksDB itself is thread safe.
    private let db: RocksDB
    private let writes: RocksDBAtomicWrite
    /// What the store is a copy of.
    public let identity: Identity
    /// Floats per track.
    public var width: Int { identity.audio + identity.collaborative }
    /// Per partition, the offset below which every record was applied and counted.
    public private(set) var applied: [Int32: Int64] = [:]
    /// Per partition, the offset to read from at the next start: `applied`, or the first record
    /// that was refused and not yet dead-lettered (it must be read again to be).
    public private(set) var resume: [Int32: Int64] = [:]
    /// Totals over everything applied.
    public private(set) var counters = Counters()
    /// Why the store was emptied when it was opened, nil if it was not (or was new).
    public private(set) var emptiedBecause: String?

    /// The topic, batch and shape the store copies.
    public struct Identity: Codable, Sendable, Equatable {
        /// Track topic.
        public var topic: String
        /// Embedding batch.
        public var batchID: String
        /// Audio floats per track.
        public var audio: Int
        /// Collaborative floats per track.
        public var collaborative: Int
        /// Partitions of the topic.
        public var partitions: Int

        /// An identity.
        public init(topic: String, batchID: String, dims: ModelManifest.EmbeddingDims, partitions: Int) {
            self.topic = topic
            self.batchID = batchID
            audio = dims.audio
            collaborative = dims.collaborative
            self.partitions = partitions
        }
    }

    /// Totals over every record applied, for the checks a worker makes at start-up.
    public struct Counters: Codable, Sendable, Equatable {
        /// Tracks stored.
        public var tracks = 0
        /// Valid records of other embedding batches.
        public var otherBatch = 0
        /// A few of those batches' ids.
        public var otherBatches: [String] = []
        /// Records of this batch with other dimensions.
        public var otherDims = 0
        /// The first such dimensions, audio and collaborative.
        public var seenDims: [Int]?

        /// No records yet.
        public init() {}
    }

    /// A track as stored.
    public struct Track: Sendable, Equatable {
        /// Its artist.
        public var artistID: [UInt8]
        /// Audio then collaborative floats.
        public var embedding: [Float]

        /// A track.
        public init(artistID: [UInt8], embedding: [Float]) {
            self.artistID = artistID
            self.embedding = embedding
        }
    }

    /// One record's effect, in topic order.
    public enum Change: Sendable {
        /// A track record of the store's batch.
        case upsert(trackID: [UInt8], Track)
        /// A tombstone.
        case remove(trackID: [UInt8])
    }

    private static let identityKey = Array("m/identity".utf8)
    private static let countersKey = Array("m/counters".utf8)
    private static let trackPrefix = Array("t/".utf8)
    private static let artistPrefix = Array("a/".utf8)
    private static let appliedPrefix = Array("o/".utf8)
    private static let resumePrefix = Array("r/".utf8)

    /// Opens (or creates) the store in `directory` for `identity`; a store of anything else is
    /// emptied (`emptiedBecause` says why).
    public init(directory: String, identity: Identity) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        // The worker's own cache of decoded tracks stands in front: RocksDB needs little memory.
        db = try RocksDB(path: directory, blockCacheMB: 8, writeBufferMB: 64)
        writes = try RocksDBAtomicWrite()
        self.identity = identity
        let stored = try db.get(Self.identityKey).flatMap { try? JSONDecoder().decode(Identity.self, from: Data($0)) }
        if let stored, stored == identity {
            applied = try PartitionValues.scan(db, prefix: Self.appliedPrefix)
            resume = try PartitionValues.scan(db, prefix: Self.resumePrefix)
            counters = try db.get(Self.countersKey).flatMap { try? JSONDecoder().decode(Counters.self, from: Data($0)) } ?? Counters()
        } else {
            if let stored { emptiedBecause = Self.difference(stored, identity) }
            try empty()
        }
    }

    private static func difference(_ a: Identity, _ b: Identity) -> String {
        if a.topic != b.topic { return "it copied topic '\(a.topic)'" }
        if a.batchID != b.batchID { return "it held embedding batch '\(a.batchID)'" }
        if a.partitions != b.partitions { return "the topic had \(a.partitions) partitions, now \(b.partitions)" }
        return "it held \(a.audio)+\(a.collaborative)-float tracks"
    }

    /// Removes every track, sum, offset and total (to read the topic again from its start).
    public func empty(because reason: String? = nil) throws {
        if let reason { emptiedBecause = reason }
        writes.clear()
        writes.deleteRange(from: Array("a".utf8), to: Array("z".utf8))
        writes.put(Self.identityKey, Array(try JSONEncoder().encode(identity)))
        try db.write(writes, durability: .logged)
        applied = [:]
        resume = [:]
        counters = Counters()
    }

    /// Applies `changes` in order, with the offsets and totals they bring the store to, in one
    /// atomic write. Returns the artists whose sums changed.
    @discardableResult
    public func apply(
        _ changes: [Change], applied newApplied: [Int32: Int64], resume newResume: [Int32: Int64], counters newCounters: Counters
    ) throws -> Set<[UInt8]> {
        // The tracks before this batch, then each change in turn on top.
        let ids = changes.map(\.trackID).distinctInOrder()
        let before = try tracks(ids)
        var current: [[UInt8]: Track?] = [:]
        for (id, t) in zip(ids, before) { current[id] = .some(t) }
        var deltas: [[UInt8]: TrackTable.ArtistSum] = [:]
        func add(_ t: Track, sign: Double) {
            var d = deltas[t.artistID] ?? TrackTable.ArtistSum(count: 0, sums: [Double](repeating: 0, count: width))
            d.add(t.embedding[...], sign: sign)
            deltas[t.artistID] = d
        }
        var tracksNow = counters.tracks
        for c in changes {
            let old = current[c.trackID] ?? nil
            if let old { add(old, sign: -1) }
            switch c {
            case .upsert(let id, let t):
                precondition(t.embedding.count == width, "a track of the store's width")
                add(t, sign: 1)
                current[id] = .some(t)
                if old == nil { tracksNow += 1 }
            case .remove(let id):
                current[id] = .some(nil)
                if old != nil { tracksNow -= 1 }
            }
        }
        writes.clear()
        for id in ids {
            let key = Self.trackPrefix + id
            if let t = current[id] ?? nil { writes.put(key, Self.encode(t)) } else { writes.delete(key) }
        }
        let artists = Array(deltas.keys)
        for (id, stored) in zip(artists, try artistSums(artists)) {
            guard let d = deltas[id] else { continue }
            var sum = stored ?? TrackTable.ArtistSum(count: 0, sums: [Double](repeating: 0, count: width))
            sum.count += d.count
            for k in sum.sums.indices { sum.sums[k] += d.sums[k] }
            let key = Self.artistPrefix + id
            if sum.count > 0 { writes.put(key, Self.encode(sum)) } else { writes.delete(key) }
        }
        var totals = newCounters
        totals.tracks = tracksNow
        for (p, next) in newApplied { PartitionValues.put(next, key: PartitionValues.key(Self.appliedPrefix, p), into: writes) }
        for (p, next) in newResume { PartitionValues.put(next, key: PartitionValues.key(Self.resumePrefix, p), into: writes) }
        writes.put(Self.countersKey, Array(try JSONEncoder().encode(totals)))
        try db.write(writes, durability: .logged)
        applied.merge(newApplied) { _, b in b }
        resume.merge(newResume) { _, b in b }
        counters = totals
        return Set(artists)
    }

    /// Records where the next start reads from, once refused records were dead-lettered.
    public func setResume(_ newResume: [Int32: Int64]) throws {
        guard !newResume.isEmpty else { return }
        writes.clear()
        for (p, next) in newResume { PartitionValues.put(next, key: PartitionValues.key(Self.resumePrefix, p), into: writes) }
        try db.write(writes, durability: .logged)
        resume.merge(newResume) { _, b in b }
    }

    /// The stored tracks of `ids`, in order, nil where absent.
    public func tracks(_ ids: [[UInt8]]) throws -> [Track?] {
        try db.multiGet(ids.map { Self.trackPrefix + $0 }).map { try $0.map(Self.decodeTrack) }
    }

    /// The stored artist sums of `ids`, in order, nil where the artist has no track.
    public func artistSums(_ ids: [[UInt8]]) throws -> [TrackTable.ArtistSum?] {
        try db.multiGet(ids.map { Self.artistPrefix + $0 }).map { try $0.map(Self.decodeArtist) }
    }

    /// Calls `body` with every stored track, in key order (for checks and tests).
    public func forEachTrack(_ body: ([UInt8], Track) throws -> Void) throws {
        try db.scan(prefix: Self.trackPrefix) { key, value in
            try body(Array(key.dropFirst(Self.trackPrefix.count)), try Self.decodeTrack(Array(value)))
            return true
        }
    }

    /// Writes the memtables to disk (before a clean stop, so the next start replays no log).
    public func flush() throws { try db.flush() }

    // MARK: Encoding

    static func encode(_ t: Track) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(2 + t.artistID.count + t.embedding.count * 4)
        out.append(UInt8(truncatingIfNeeded: t.artistID.count))
        out.append(UInt8(truncatingIfNeeded: t.artistID.count >> 8))
        out.append(contentsOf: t.artistID)
        for v in t.embedding { LittleEndian.append(v, to: &out) }
        return out
    }

    static func decodeTrack(_ bytes: [UInt8]) throws -> Track {
        guard bytes.count >= 2 else { throw StateCorruption(message: "a stored track of \(bytes.count) bytes") }
        let n = Int(bytes[0]) | Int(bytes[1]) << 8
        guard bytes.count >= 2 + n, (bytes.count - 2 - n) % 4 == 0 else {
            throw StateCorruption(message: "a stored track of \(bytes.count) bytes with a \(n)-byte artist")
        }
        let floats = (bytes.count - 2 - n) / 4
        let embedding = bytes.withUnsafeBytes { raw in
            (0..<floats).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 2 + n + 4 * $0, as: UInt32.self))) }
        }
        return Track(artistID: Array(bytes[2..<(2 + n)]), embedding: embedding)
    }

    static func encode(_ sum: TrackTable.ArtistSum) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(8 + sum.sums.count * 8)
        withUnsafeBytes(of: Int64(sum.count).littleEndian) { out.append(contentsOf: $0) }
        for v in sum.sums { withUnsafeBytes(of: v.bitPattern.littleEndian) { out.append(contentsOf: $0) } }
        return out
    }

    static func decodeArtist(_ bytes: [UInt8]) throws -> TrackTable.ArtistSum {
        guard bytes.count >= 8, bytes.count % 8 == 0 else { throw StateCorruption(message: "a stored artist sum of \(bytes.count) bytes") }
        return bytes.withUnsafeBytes { raw in
            let count = Int64(littleEndian: raw.loadUnaligned(as: Int64.self))
            let sums = (1..<(raw.count / 8)).map {
                Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self)))
            }
            return TrackTable.ArtistSum(count: Int(count), sums: sums)
        }
    }
}

extension TrackStore.Change {
    /// The track the change is about.
    public var trackID: [UInt8] {
        switch self {
        case .upsert(let id, _), .remove(let id): id
        }
    }
}
