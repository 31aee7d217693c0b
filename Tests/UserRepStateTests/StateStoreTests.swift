// The RocksDB state store and the user-state codec, on a real RocksDB in a temp directory.
import Foundation
import Testing
import UserRepModel
import UserRepState

@Suite struct StateStoreTests {
    func tempDir() -> String { FileManager.default.temporaryDirectory.appendingPathComponent("userrep-state-\(UUID().uuidString)").path }

    func sampleState(width: Int, listens: Int, seed: UInt64) -> UserState {
        var rng = SplitMix64(seed: seed)
        var s = UserState(width: width)
        for i in 0..<listens {
            let e = (0..<width).map { _ in rng.nextGaussian() }
            e.withUnsafeBufferPointer { s.applyListen(timeMs: 1_780_000_000_000 + Int64(i) * 3_600_000 * Int64(1 + rng.next() % 30), vector: $0, country: i % 2 == 0 ? [83, 69] : nil) }
            if i == 5 { s.applyOnboarding(timeMs: 1_780_000_000_000, artists: [[97]], languages: [[101, 110], [115, 118]], country: nil) }
        }
        return s
    }

    @Test func codecRoundTripsAndRejectsCorruption() throws {
        let state = sampleState(width: 6, listens: 200, seed: 1)
        let bytes = UserStateCodec.encode(state)
        #expect(try bytes.withUnsafeBytes { try UserStateCodec.decode($0, expectedWidth: 6) } == state)
        #expect(throws: StateCorruption.self) { try bytes.withUnsafeBytes { try UserStateCodec.decode($0, expectedWidth: 7) } }
        for cut in [0, 1, 20, bytes.count - 1] {
            #expect(throws: StateCorruption.self) { try Array(bytes.prefix(cut)).withUnsafeBytes { try UserStateCodec.decode($0, expectedWidth: 6) } }
        }
        var badVersion = bytes
        badVersion[0] = 99
        #expect(throws: StateCorruption.self) { try badVersion.withUnsafeBytes { try UserStateCodec.decode($0, expectedWidth: 6) } }
    }

    @Test func stateAndOffsetsAreCommittedTogetherAndSurviveReopen() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let a = UserKey(partition: 3, userID: Array("alice".utf8)), b = UserKey(partition: 1, userID: Array("bob".utf8))
        do {
            let store = try StateStore(directory: dir, embeddingBatchID: "e1", width: 4)
            #expect(try store.load([a, b]) == [nil, nil])
            try store.commit(users: [(a, sampleState(width: 4, listens: 10, seed: 2)), (b, sampleState(width: 4, listens: 3, seed: 3))],
                             offsets: [SourceOffset(topic: "listens", partition: 3, next: 42), SourceOffset(topic: "listens", partition: 1, next: 7)])
        }
        let store = try StateStore(directory: dir, embeddingBatchID: "e1", width: 4)
        #expect(try store.load([a, b]) == [sampleState(width: 4, listens: 10, seed: 2), sampleState(width: 4, listens: 3, seed: 3)])
        #expect(try store.offsets(topic: "listens") == [3: 42, 1: 7])
        #expect(try store.offsets(topic: "other").isEmpty)
        var seen: [UserKey] = []
        try store.forEachUser { key, _ in seen.append(key); return true }
        #expect(seen == [b, a], "users iterate by partition then id")
    }

    @Test func storeOfAnotherEmbeddingBatchIsRefused() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = try StateStore(directory: dir, embeddingBatchID: "e1", width: 4)
        #expect { try StateStore(directory: dir, embeddingBatchID: "e2", width: 4) } throws: {
            ($0 as? StateCorruption)?.message.contains("embedding batch 'e1' but the model needs 'e2'") == true
        }
        #expect(throws: StateCorruption.self) { try StateStore(directory: dir, embeddingBatchID: "e1", width: 5) }
    }
}
