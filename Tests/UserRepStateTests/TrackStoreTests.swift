// The worker's local track table (TrackStore) against the in-memory table and a brute-force sum, on a real RocksDB.
import Foundation
import Testing
import UserRepModel
import UserRepState

@Suite struct TrackStoreTests {
    let dims = ModelManifest.EmbeddingDims(audio: 3, collaborative: 2)
    var identity: TrackStore.Identity { TrackStore.Identity(topic: "tracks", batchID: "emb-1", dims: dims, partitions: 2) }


    /// A random batch of changes over 40 track ids and 6 artists: upserts (moving tracks between
    /// artists), tombstones (also of tracks never stored) and repeats of one id in one batch.
    func randomChanges(_ rng: inout SplitMix64, count: Int) -> [TrackStore.Change] {
        (0..<count).map { _ in
            let id = Array("t\(rng.next() % 40)".utf8)
            if rng.next() % 4 == 0 { return .remove(trackID: id) }
            let artist = Array("a\(rng.next() % 6)".utf8)
            return .upsert(trackID: id, TrackStore.Track(artistID: artist, embedding: (0..<5).map { _ in rng.nextGaussian() }))
        }
    }

    @Test func storedTracksAndArtistSumsMatchTheInMemoryTableAcrossBatchesAndReopens() throws {
        let dir = scratchPath("tracks")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var rng = SplitMix64(seed: 11)
        var oracle = TrackTable(batchID: "emb-1", dims: dims)
        var offset: Int64 = 0
        for round in 0..<6 {
            // Reopened every other round: what was applied, its offsets and totals survive.
            let store = try TrackStore(directory: dir, identity: identity)
            #expect(store.emptiedBecause == nil)
            #expect(store.applied == (round == 0 ? [:] : [0: offset]))
            #expect(store.counters.tracks == oracle.count)
            for _ in 0..<2 {
                let changes = randomChanges(&rng, count: 30)
                for c in changes {
                    switch c {
                    case .upsert(let id, let t): oracle.upsert(trackID: id, artistID: t.artistID, embedding: t.embedding)
                    case .remove(let id): oracle.remove(trackID: id)
                    }
                }
                offset += Int64(changes.count)
                var counters = store.counters
                counters.otherBatch += 1
                try store.apply(changes, applied: [0: offset], resume: [0: offset - 3], counters: counters)
                #expect(store.counters.tracks == oracle.count)
            }
        }
        let store = try TrackStore(directory: dir, identity: identity)
        #expect(store.resume == [0: offset - 3])
        #expect(store.counters.otherBatch == 12)
        // Every track as the oracle holds it, and none other.
        var stored: [[UInt8]: TrackStore.Track] = [:]
        try store.forEachTrack { id, t in stored[id] = t }
        #expect(stored.count == oracle.count)
        for (id, t) in stored {
            #expect(oracle.embedding(of: id) == t.embedding && oracle.artist(of: id) == t.artistID)
        }
        // Each artist's sum is the brute-force sum over the tracks they hold now (in double
        // precision); artists without tracks have none.
        let artists = (0..<6).map { Array("a\($0)".utf8) }
        for (artist, sum) in zip(artists, try store.artistSums(artists)) {
            let mine = stored.values.filter { $0.artistID == artist }
            guard !mine.isEmpty else {
                #expect(sum == nil)
                continue
            }
            let sum = try #require(sum)
            #expect(sum.count == mine.count)
            for k in 0..<5 {
                let naive = mine.reduce(0.0) { $0 + Double($1.embedding[k]) }
                #expect(abs(sum.sums[k] - naive) < 1e-9)
            }
            #expect(oracle.artistMean(artist).map { zip($0, sum.mean ?? []).allSatisfy { abs($0 - $1) < 1e-5 } } == true)
        }
    }

    @Test func aStoreOfAnotherTopicBatchOrShapeIsEmptied() throws {
        let dir = scratchPath("tracks")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            let store = try TrackStore(directory: dir, identity: identity)
            try store.apply(
                [.upsert(trackID: [1], TrackStore.Track(artistID: [2], embedding: [1, 2, 3, 4, 5]))], applied: [1: 1], resume: [1: 1],
                counters: store.counters)
        }
        var other = identity
        other.partitions = 3
        let reopened = try TrackStore(directory: dir, identity: other)
        #expect(reopened.emptiedBecause?.contains("partitions") == true)
        #expect(reopened.counters.tracks == 0 && reopened.applied.isEmpty && reopened.resume.isEmpty)
        #expect(try reopened.tracks([[1]]) == [nil])
        #expect(try reopened.artistSums([[2]]) == [nil])
    }

    @Test func aCacheSweepKeepsTheTracksInUseAndCountsItsBytes() {
        var table = TrackTable(batchID: "emb-1", dims: dims, derivesArtistMeans: false)
        for i in 0..<10 { table.upsert(trackID: [UInt8(i)], artistID: [7], embedding: [Float](repeating: Float(i), count: 5)) }
        let perTrack = table.trackBytes(trackID: [0], artistID: [7])
        #expect(table.residentBytes == 10 * perTrack)
        #expect(table.artistMean([7]) == nil, "a cache does not derive artist sums from the tracks it happens to hold")
        let inUse: Set<Int32> = Set([2, 5, 8].compactMap { table.slot(of: [UInt8($0)]) })
        #expect(table.removeTracks(downTo: 4 * perTrack) { !inUse.contains($0) } == 6)
        #expect(table.count == 4 && table.residentBytes == 4 * perTrack)
        for i in [2, 5, 8] { #expect(table.embedding(of: [UInt8(i)]) == [Float](repeating: Float(i), count: 5)) }
        // Below the tracks in use, those go too.
        #expect(table.removeTracks(downTo: perTrack) { !inUse.contains($0) } == 3)
        #expect(table.count == 1)
        table.setArtist([7], TrackTable.ArtistSum(count: 2, sums: [2, 4, 6, 8, 10]))
        #expect(table.artistMean([7]) == [1, 2, 3, 4, 5])
        #expect(table.residentBytes == perTrack + table.artistBytes)
        table.removeAllArtists()
        #expect(table.residentBytes == perTrack)
    }
}
