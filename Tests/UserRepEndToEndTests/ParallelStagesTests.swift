// The cycle's parallel stages (apply, encode, state serialization) against sequential runs and the naive model.
import Foundation
import Testing
import UserRepModel
@testable import UserRepPipeline
import UserRepTesting
import UserRepState

@Suite struct ParallelStagesTests {
    @Test func parallelStagesMatchSequentialRunsAndTheNaiveModel() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("userrep-parallel-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        var settings = SyntheticGenerator.Settings(users: 3_000, tracks: 300)
        settings.artists = 30
        var generator = SyntheticGenerator(settings: settings)
        let (manifest, weights) = ModelFactory.random(batchID: "b1", embeddingBatchID: settings.embeddingBatchID, dims: settings.dims)
        let manifestURL = try ModelFactory.write(manifest: manifest, weights: weights, to: dir)
        let model = try EncoderModel.load(manifestURL: manifestURL)
        var table = TrackTable(batchID: settings.embeddingBatchID, dims: settings.dims)
        for r in generator.trackRecords() { table.upsert(trackID: r.trackID, artistID: r.artistID, embedding: r.audio + r.collaborative) }

        var pending = PendingUpdates()
        var allButNewest = PendingUpdates()
        var listens: [ListenEvent] = []
        for i in 0..<10_000 { listens.append(generator.listen(index: i, total: 10_000)) }
        let newest = Dictionary(listens.indices.map { (listens[$0].userID, $0) }, uniquingKeysWith: max)
        for (i, e) in listens.enumerated() {
            let track = try #require(table.slot(of: e.trackID))
            let event = PendingUpdates.Event.listen(
                timeMs: e.timestampMs, track: track, device: e.device.map(DeviceClass.init(name:)), country: e.country)
            let user = UserKey(partition: 0, userID: e.userID)
            pending.add(user: user, event, lane: .listens, offset: Int64(i))
            if newest[e.userID] != i { allButNewest.add(user: user, event, lane: .listens, offset: Int64(i)) }
        }
        let users = pending.users
        #expect(users.count > 2 * EncoderModel.blockRows, "several encoder blocks")

        // Apply: one thread and three give the same states; a replay is all duplicates, and
        // republishes a user only where it reads the newest listen the state reflects again.
        let applier = StateApplier(tracks: table, listenWidth: model.layout.listenWidth)
        var sequential = users.map { _ in UserState(width: model.layout.listenWidth) }
        var parallel = sequential
        let one = applier.apply(pending, to: &sequential, threads: 1)
        let three = applier.apply(pending, to: &parallel, threads: 3)
        func differing() -> Int { zip(sequential, parallel).filter { $0 != $1 }.count }
        #expect(differing() == 0, "states differing between one thread and three")
        #expect(one.listens == 10_000 && three.listens == 10_000 && three.changed.allSatisfy { $0 })
        let replay = applier.apply(pending, to: &parallel, threads: 3)
        #expect(replay.duplicates == 10_000 && replay.listens == 0 && replay.changed.allSatisfy { $0 })
        let slot = Dictionary(uniqueKeysWithValues: users.enumerated().map { ($1, $0) })
        var partialStates = try allButNewest.users.map { parallel[try #require(slot[$0])] }
        let partial = applier.apply(allButNewest, to: &partialStates, threads: 3)
        #expect(partial.duplicates == 10_000 - users.count && !partial.changed.contains(true))
        #expect(differing() == 0, "a replay changes nothing")

        // Encode: the same vectors on one thread and three, equal to the naive model.
        let states = parallel
        let vectors = RepresentationBatchEncoder(model: model, threads: 3).encodeVectors(states, tracks: table)
        let sequentialVectors = RepresentationBatchEncoder(model: model, threads: 1).encodeVectors(states, tracks: table)
        #expect(
            vectors.count == sequentialVectors.count && zip(vectors, sequentialVectors).allSatisfy { $0 == $1 },
            "one thread and three encode alike")
        // A small batch (a cycle of a worker that keeps up) is split into smaller blocks for the
        // other threads. A GEMM's rounding depends on its row count, so the vectors agree to
        // float rounding, not bit for bit (the naive-model check below bounds the error).
        let small = Array(states[..<100])
        let encoderOnThree = RepresentationBatchEncoder(model: model, threads: 3)
        #expect(
            encoderOnThree.blockRows(users: small.count) == 34 && encoderOnThree.blockRows(users: 40) == 32
                && encoderOnThree.blockRows(users: 20) == 20)
        let splitSmall = encoderOnThree.encodeVectors(small, tracks: table)
        let worstSplit =
            zip(splitSmall, sequentialVectors[..<(100 * model.outputSize)]).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? .infinity
        #expect(splitSmall.count == 100 * model.outputSize && worstSplit <= 1e-5, "a split small batch differs by \(worstSplit)")
        let naive = try NaiveModel(manifestURL: manifestURL, tracks: generator.trackRecords())
        let byUser = Dictionary(grouping: listens) { $0.userID }
        var worst = 0.0
        // Every 7th user (the naive model is slow in debug builds), and the very last one.
        for i in Array(stride(from: 0, to: users.count, by: 7)) + [users.count - 1] {
            let expected = try naive.vector(for: byUser[users[i].userID] ?? [])
            for (k, want) in expected.enumerated() {
                worst = max(worst, abs(Double(vectors[i * model.outputSize + k]) - want) / max(1, abs(want)))
            }
        }
        #expect(worst <= 1e-4, "largest relative difference \(worst)")

        // Serialize: three threads give the bytes of one-by-one appends, against stored tiles that
        // are none, all but the newest, or all plus one the state no longer holds.
        let previous = parallel.indices.map { i -> [TileID] in
            let ids = parallel[i].tiles.tileIDs
            switch i % 3 {
            case 0: return []
            case 1: return Array(ids.dropFirst())
            default: return ids + [TileID(start: -1, level: .day, count: 1)]
            }
        }
        var appended = EncodedStates()
        for (s, p) in zip(parallel, previous) { appended.append(s, previous: p) }
        var encoded = EncodedStates()
        encoded.encode(states, previous: previous, threads: 3)
        #expect(encoded.count == appended.count && encoded.byteCount == appended.byteCount)
        for i in 0..<encoded.count {
            var a: [(TileID, [UInt8])] = [], b: [(TileID, [UInt8])] = []
            encoded.forEachWrittenTile(i) { a.append(($0, Array($1))) }
            appended.forEachWrittenTile(i) { b.append(($0, Array($1))) }
            let same =
                encoded.withHead(i) { x in appended.withHead(i) { y in x.elementsEqual(y) } } && a.map(\.0) == b.map(\.0)
                && a.map(\.1) == b.map(\.1) && encoded.removedTiles(i) == appended.removedTiles(i)
            if !same { Issue.record("state \(i) serialized differently"); break }
            let expectedWritten = i % 3 == 0 ? parallel[i].tiles.tileCount : (i % 3 == 1 ? min(1, parallel[i].tiles.tileCount) : 0)
            #expect(a.count == expectedWritten && encoded.removedTiles(i).count == (i % 3 == 2 ? 1 : 0))
        }
    }
}
