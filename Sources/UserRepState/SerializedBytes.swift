// A fixed block of bytes that one owner writes and then shares read-only (a cycle's serialized states).
import Foundation

/// `capacity` bytes allocated once and freed with the object; its address never moves, so a
/// reader that keeps the object alive (librdkafka, producing changelog values in place) may
/// hold pointers into it. Written only before it is shared (`EncodedStates` checks that it is
/// the only owner before writing).
public final class SerializedBytes: @unchecked Sendable {
    /// Start of the block.
    let base: UnsafeMutableRawPointer
    /// Its size in bytes.
    public let capacity: Int

    /// Allocates `capacity` bytes, uninitialized.
    init(capacity: Int) {
        self.capacity = capacity
        base = UnsafeMutableRawPointer.allocate(byteCount: max(capacity, 1), alignment: 16)
    }

    /// The whole block, for writing.
    var mutableBytes: UnsafeMutableRawBufferPointer { UnsafeMutableRawBufferPointer(start: base, count: capacity) }

    /// Bytes `range` of the block, for reading while this object is alive.
    func bytes(_ range: Range<Int>) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: base + range.lowerBound, count: range.count)
    }

    deinit { base.deallocate() }
}
