// A cycle's user states, serialized once for both the changelog and the store.
import UserRepModel

/// User states serialized back to back; the changelog records and the RocksDB batch of a cycle
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

    /// Replaces the contents with `states` serialized in order, on up to `threads` threads.
    public mutating func encode(_ states: [UserState], threads: Int) {
        reset()
        let chunk = 2_048
        var parts = [EncodedStates](repeating: EncodedStates(), count: (states.count + chunk - 1) / chunk)
        parts.withUnsafeMutableBufferPointer { p in
            let parts = DisjointWrites(p)
            ParallelLoop.forEach(count: parts.buffer.count, threads: threads) { k in
                for i in (k * chunk)..<min(states.count, (k + 1) * chunk) { parts.buffer[k].append(states[i]) }
            }
        }
        bytes.reserveCapacity(parts.reduce(0) { $0 + $1.byteCount })
        for part in parts {
            let base = bytes.count
            bytes.append(contentsOf: part.bytes)
            ends.append(contentsOf: part.ends.lazy.map { $0 + base })
        }
    }

    /// Calls `body` with the bytes of the `i`-th state.
    public func withState<R>(_ i: Int, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        let start = i == 0 ? 0 : ends[i - 1]
        return try bytes.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[start..<ends[i]])) }
    }
}
