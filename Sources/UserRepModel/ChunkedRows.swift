// Fixed-width float rows in fixed-size chunks: growing never copies (or doubles) what is held.

/// Rows of `width` floats, addressed by index, stored in chunks of `rowsPerChunk` rows.
///
/// A flat array grows by doubling: it reallocates and copies everything it holds, so a table of
/// N rows briefly takes 3× N rows' memory and then keeps up to 2× allocated. Chunks are allocated
/// once at their final size, so the slack is at most one chunk.
struct ChunkedRows: Sendable {
    /// Floats per row.
    let width: Int
    /// Rows per chunk.
    let rowsPerChunk: Int
    private var chunks: [[Float]] = []
    /// Rows held.
    private(set) var count = 0

    /// No rows, of `width` floats each.
    init(width: Int, rowsPerChunk: Int = 1_024) {
        precondition(width >= 0 && rowsPerChunk > 0)
        self.width = width
        self.rowsPerChunk = rowsPerChunk
    }

    /// Calls `body` with row `row`.
    func withRow<R>(_ row: Int, _ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        let start = (row % rowsPerChunk) * width
        return try chunks[row / rowsPerChunk].withUnsafeBufferPointer { all in
            try body(UnsafeBufferPointer(rebasing: all[start..<(start + width)]))
        }
    }

    /// Row `row`, as a slice of its chunk.
    subscript(row: Int) -> ArraySlice<Float> {
        let start = (row % rowsPerChunk) * width
        return chunks[row / rowsPerChunk][start..<(start + width)]
    }

    /// Overwrites row `row` with `values` (`width` floats).
    mutating func set(_ row: Int, _ values: [Float]) {
        precondition(values.count == width)
        let start = (row % rowsPerChunk) * width
        chunks[row / rowsPerChunk].replaceSubrange(start..<(start + width), with: values)
    }

    /// Adds a row after the last; returns its index.
    @discardableResult
    mutating func append(_ values: [Float]) -> Int {
        precondition(values.count == width)
        if count % rowsPerChunk == 0 {
            var chunk: [Float] = []
            chunk.reserveCapacity(rowsPerChunk * width)
            chunks.append(chunk)
        }
        chunks[chunks.count - 1].append(contentsOf: values)
        count += 1
        return count - 1
    }
}
