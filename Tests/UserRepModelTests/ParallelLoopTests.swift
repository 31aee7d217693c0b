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
