// A cycle's user states, serialized once for both the changelog and the store: heads and changed tiles.
import UserRepModel

/// User states serialized for one write: per user its head, the tiles it holds that the stored
/// state does not (new ids: a tile whose count changed is a new tile), and the ids of stored tiles
/// it no longer holds. The changelog records and the RocksDB write of a cycle are written from the
/// same bytes, and the changelog's may be produced in place (`bytesOwner` keeps them alive).
public struct EncodedStates: Sendable {
    /// Per user: the head, then the sums of each written tile. `encode` allocates it anew at the
    /// size it needs, so a cycle holds its own states' bytes and no more, and a block that a
    /// producer still reads is never written again.
    private var storage = SerializedBytes(capacity: 0)
    private var headEnds: [Int] = []
    private var userEnds: [Int] = []
    private var written: [TileID] = []
    private var writtenEnds: [Int] = []
    /// Where each written tile's sums lie in its state (tile index).
    private var writtenIndex: [Int] = []
    private var removed: [TileID] = []
    private var removedEnds: [Int] = []

    /// Creates an empty set.
    public init() {}

    /// Number of states held.
    public var count: Int { headEnds.count }

    /// Total serialized bytes: heads and written tiles' sums.
    public var byteCount: Int { userEnds.last ?? 0 }

    /// The object that owns the serialized bytes: whoever reads them after this value is gone
    /// (librdkafka producing records in place) keeps it alive until it is done.
    public var bytesOwner: AnyObject & Sendable { storage }

    /// Tiles written, over all states.
    public var writtenTileCount: Int { written.count }

    /// Tiles removed, over all states.
    public var removedTileCount: Int { removed.count }

    /// Removes every state and lets go of the bytes (the index arrays keep their capacity).
    public mutating func reset() {
        storage = SerializedBytes(capacity: 0)
        headEnds.removeAll(keepingCapacity: true)
        userEnds.removeAll(keepingCapacity: true)
        written.removeAll(keepingCapacity: true)
        writtenEnds.removeAll(keepingCapacity: true)
        writtenIndex.removeAll(keepingCapacity: true)
        removed.removeAll(keepingCapacity: true)
        removedEnds.removeAll(keepingCapacity: true)
    }

    /// Serializes `state` after the others, against the tiles `previous` the store holds for it.
    public mutating func append(_ state: UserState, previous: [TileID] = []) {
        let start = byteCount
        plan(state, previous: previous)
        let end = byteCount
        if !isKnownUniquelyReferenced(&storage) || storage.capacity < end {
            let grown = SerializedBytes(capacity: max(end, 2 * storage.capacity))
            grown.base.copyMemory(from: storage.base, byteCount: start)
            storage = grown
        }
        Self.write(state, user: count - 1, layout: layout, into: storage.mutableBytes)
    }

    /// Replaces the contents with `states` serialized in order, each against the tiles of
    /// `previous` (same order; nil: none stored, every tile is written), on up to `threads`
    /// threads: each state's size and tiles are planned first, then every thread writes its
    /// states in place, in a block allocated at exactly that size.
    public mutating func encode(_ states: [UserState], previous: [[TileID]]?, threads: Int) {
        reset()
        for i in states.indices { plan(states[i], previous: previous?[i] ?? []) }
        storage = SerializedBytes(capacity: byteCount)
        let layout = self.layout
        let out = DisjointWrites(storage.mutableBytes.bindMemory(to: UInt8.self))
        ParallelLoop.forEachChunk(count: states.count, chunk: 1_024, threads: threads) { _, range in
            for i in range { Self.write(states[i], user: i, layout: layout, into: UnsafeMutableRawBufferPointer(out.buffer)) }
        }
    }

    /// Records user `count`'s sizes and tiles (written: ids not in `previous`; removed: ids of
    /// `previous` the state no longer holds).
    private mutating func plan(_ state: UserState, previous: [TileID]) {
        let start = userEnds.last ?? 0
        let headEnd = start + UserStateCodec.headSize(state)
        headEnds.append(headEnd)
        let ids = state.tiles.tileIDs
        for (j, id) in ids.enumerated() where !previous.contains(id) {
            written.append(id)
            writtenIndex.append(j)
        }
        writtenEnds.append(written.count)
        for id in previous where !ids.contains(id) { removed.append(id) }
        removedEnds.append(removed.count)
        let tiles = (written.count - (writtenEnds.count > 1 ? writtenEnds[writtenEnds.count - 2] : 0)) * 4 * state.tiles.width
        userEnds.append(headEnd + tiles)
    }

    /// What `write` needs of the plan, for threads that cannot capture `self` while it is mutated.
    private struct Layout: Sendable {
        let headEnds: [Int], userEnds: [Int], writtenEnds: [Int], writtenIndex: [Int]
    }

    private var layout: Layout { Layout(headEnds: headEnds, userEnds: userEnds, writtenEnds: writtenEnds, writtenIndex: writtenIndex) }

    /// Writes user `i`'s head and written tiles' sums into their place in `all`.
    private static func write(_ state: UserState, user i: Int, layout: Layout, into all: UnsafeMutableRawBufferPointer) {
        let start = i == 0 ? 0 : layout.userEnds[i - 1]
        UserStateCodec.writeHead(state, to: UnsafeMutableRawBufferPointer(rebasing: all[start..<layout.headEnds[i]]))
        var at = layout.headEnds[i]
        let tileBytes = 4 * state.tiles.width
        state.tiles.sums.withUnsafeBytes { sums in
            for k in (i == 0 ? 0 : layout.writtenEnds[i - 1])..<layout.writtenEnds[i] {
                let from = layout.writtenIndex[k] * tileBytes
                UnsafeMutableRawBufferPointer(rebasing: all[at..<(at + tileBytes)]).copyMemory(
                    from: UnsafeRawBufferPointer(rebasing: sums[from..<(from + tileBytes)]))
                at += tileBytes
            }
        }
    }

    /// Calls `body` with the head bytes of the `i`-th state.
    public func withHead<R>(_ i: Int, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        let start = i == 0 ? 0 : userEnds[i - 1]
        return try withExtendedLifetime(storage) { try body(storage.bytes(start..<headEnds[i])) }
    }

    /// Calls `body` with the id and sums of every tile the `i`-th state writes, in tile order.
    public func forEachWrittenTile(_ i: Int, _ body: (TileID, UnsafeRawBufferPointer) throws -> Void) rethrows {
        let first = i == 0 ? 0 : writtenEnds[i - 1]
        let n = writtenEnds[i] - first
        guard n > 0 else { return }
        let tileBytes = (userEnds[i] - headEnds[i]) / n
        try withExtendedLifetime(storage) {
            for k in 0..<n {
                let at = headEnds[i] + k * tileBytes
                try body(written[first + k], storage.bytes(at..<(at + tileBytes)))
            }
        }
    }

    /// Calls `body` with the changelog records of the `i`-th state in the order they must be
    /// written: each written tile (its id and sums), then the head (no id), then a tombstone (no
    /// value) for each removed tile. Tiles go before the head that refers to them and leave after
    /// it, so a reader never meets a head whose tiles are missing.
    public func forEachRecord(_ i: Int, _ body: (TileID?, UnsafeRawBufferPointer?) throws -> Void) rethrows {
        try forEachWrittenTile(i) { id, sums in try body(id, sums) }
        try withHead(i) { try body(nil, $0) }
        for id in removedTiles(i) { try body(id, nil) }
    }

    /// The ids of the tiles the `i`-th state writes, in tile order.
    public func writtenTiles(_ i: Int) -> ArraySlice<TileID> { written[(i == 0 ? 0 : writtenEnds[i - 1])..<writtenEnds[i]] }

    /// The ids of the stored tiles the `i`-th state no longer holds.
    public func removedTiles(_ i: Int) -> ArraySlice<TileID> { removed[(i == 0 ? 0 : removedEnds[i - 1])..<removedEnds[i]] }
}
