// A cycle's user states, serialized once for both the changelog and the store.
import UserRepModel

/// User states serialized back to back; the changelog records and the RocksDB write of a cycle
/// are written from the same bytes.
public struct EncodedStates: Sendable {
    private var bytes: [UInt8] = []
    private var ends: [Int] = []

    /// Creates an empty set.
    public init() {}

    /// Number of states held.
    public var count: Int { ends.count }

    /// Total serialized bytes.
    public var byteCount: Int { bytes.count }

    /// Removes every state, keeping capacity.
    public mutating func reset() {
        bytes.removeAll(keepingCapacity: true)
        ends.removeAll(keepingCapacity: true)
    }

    /// Serializes `state` after the others.
    public mutating func append(_ state: UserState) {
        UserStateCodec.append(state, to: &bytes)
        ends.append(bytes.count)
    }

    /// Replaces the contents with `states` serialized in order, on up to `threads` threads: each
    /// state's size is computed first, then every thread writes its states in place.
    public mutating func encode(_ states: [UserState], threads: Int) {
        reset()
        var end = 0
        for i in states.indices {
            end += UserStateCodec.encodedSize(states[i])
            ends.append(end)
        }
        bytes.append(contentsOf: repeatElement(0, count: end))
        let ends = self.ends
        bytes.withUnsafeMutableBufferPointer { all in
            let out = DisjointWrites(all)
            ParallelLoop.forEachChunk(count: states.count, chunk: 1_024, threads: threads) { _, range in
                for i in range {
                    let bytes = UnsafeMutableBufferPointer(rebasing: out.buffer[Self.range(of: i, ends: ends)])
                    UserStateCodec.write(states[i], to: UnsafeMutableRawBufferPointer(bytes))
                }
            }
        }
    }

    /// Calls `body` with the bytes of the `i`-th state.
    public func withState<R>(_ i: Int, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try bytes.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[Self.range(of: i, ends: ends)])) }
    }

    /// Where the `i`-th state's bytes lie, given every state's end.
    private static func range(of i: Int, ends: [Int]) -> Range<Int> { (i == 0 ? 0 : ends[i - 1])..<ends[i] }
}
