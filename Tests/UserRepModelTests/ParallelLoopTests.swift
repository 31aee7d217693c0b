// The index hand-out behind the parallel stages: every index exactly once, whatever the thread count.
import Synchronization
import Testing
import UserRepModel

@Suite struct ParallelLoopTests {
    @Test(arguments: [0, 1, 7, 1_000], [1, 2, 5])
    func everyIndexIsProcessedExactlyOnce(count: Int, threads: Int) {
        let seen = Mutex([Int](repeating: 0, count: count))
        ParallelLoop.forEach(count: count, threads: threads) { i in seen.withLock { $0[i] += 1 } }
        #expect(seen.withLock { $0 } == [Int](repeating: 1, count: count))
    }

    @Test(arguments: [0, 1, 1_023, 1_024, 1_025, 5_000], [1, 3])
    func chunksCoverEveryIndexOnceInConsecutiveRanges(count: Int, threads: Int) {
        let chunk = 1_024
        let seen = Mutex([Int](repeating: 0, count: count))
        let ranges = Mutex([Int: Range<Int>]())
        ParallelLoop.forEachChunk(count: count, chunk: chunk, threads: threads) { k, range in
            ranges.withLock { $0[k] = range }
            seen.withLock { for i in range { $0[i] += 1 } }
        }
        #expect(seen.withLock { $0 } == [Int](repeating: 1, count: count))
        let chunks = ParallelLoop.chunkCount(count: count, chunk: chunk)
        #expect(
            ranges.withLock { $0 }
                == Dictionary(uniqueKeysWithValues: (0..<chunks).map { ($0, ($0 * chunk)..<min(count, ($0 + 1) * chunk)) }))
    }

    @Test func disjointWritesFromSeveralThreadsAllLand() {
        var values = [Int](repeating: -1, count: 10_000)
        values.withUnsafeMutableBufferPointer { all in
            let out = DisjointWrites(all)
            ParallelLoop.run(count: 100, threads: 4) { next in
                while let block = next() {
                    for i in (block * 100)..<((block + 1) * 100) { out.buffer[i] = i * i }
                }
            }
        }
        #expect(values == (0..<10_000).map { $0 * $0 })
    }
}
