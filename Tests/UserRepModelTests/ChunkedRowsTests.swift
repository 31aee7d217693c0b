// Chunked rows hold what a flat array would, across chunk boundaries, and never move a chunk.
import Testing

@testable import UserRepModel

@Suite struct ChunkedRowsTests {
    @Test func rowsEqualAFlatArrayAcrossChunkBoundaries() {
        var rows = ChunkedRows(width: 3, rowsPerChunk: 4)
        var flat: [Float] = []
        var rng = SplitMix64(seed: 7)
        for i in 0..<11 {
            let row = (0..<3).map { _ in rng.nextGaussian() }
            #expect(rows.append(row) == i)
            flat += row
        }
        // Overwrite rows at a chunk's first and last place and in the partly filled last chunk.
        for i in [0, 3, 4, 10] {
            let row = (0..<3).map { _ in rng.nextGaussian() }
            rows.set(i, row)
            flat.replaceSubrange((i * 3)..<(i * 3 + 3), with: row)
        }
        #expect(rows.count == 11)
        for i in 0..<11 {
            let expected = Array(flat[(i * 3)..<(i * 3 + 3)])
            #expect(Array(rows[i]) == expected, "row \(i)")
            #expect(rows.withRow(i) { Array($0) } == expected, "row \(i)")
        }
    }

    @Test func aChunkKeepsItsStorageWhileRowsAreAdded() {
        var rows = ChunkedRows(width: 2, rowsPerChunk: 8)
        rows.append([1, 2])
        let first = rows.withRow(0) { UInt(bitPattern: $0.baseAddress) }
        for i in 1..<8 { rows.append([Float(i), 0]) }
        #expect(rows.withRow(0) { UInt(bitPattern: $0.baseAddress) } == first, "filling a chunk never reallocates it")
        rows.append([9, 9])
        #expect(rows.withRow(0) { UInt(bitPattern: $0.baseAddress) } == first, "a new chunk leaves the old ones in place")
        #expect(Array(rows[8]) == [9, 9])
    }
}
