// Writes userrep.v1.UserRepresentation protobuf bytes straight from the encoder's output buffer.
import UserRepModel

/// The hot-path protobuf writer: no message objects, one reused buffer. Produces exactly the bytes
/// SwiftProtobuf would (fields in number order, proto3 defaults omitted, packed floats); a test
/// holds the two against each other.
public enum RepresentationWireWriter {
    /// Serializes one record into `out` (cleared first).
    public static func write(
        userID: [UInt8], batchID: [UInt8], embeddingBatchID: [UInt8], vector: UnsafeBufferPointer<Float>,
        eventTimeMs: Int64, computeTimeMs: Int64, updateSequence: UInt64, trigger: RepresentationTrigger,
        into out: inout [UInt8]
    ) {
        out.removeAll(keepingCapacity: true)
        bytesField(1, userID, &out)
        bytesField(2, batchID, &out)
        bytesField(3, embeddingBatchID, &out)
        if !vector.isEmpty {
            out.append(0x22)
            varint(UInt64(vector.count * 4), &out)
            for v in vector { LittleEndian.append(v, to: &out) }
        }
        varintField(5, UInt64(bitPattern: eventTimeMs), &out)
        varintField(6, UInt64(bitPattern: computeTimeMs), &out)
        varintField(7, updateSequence, &out)
        varintField(8, UInt64(trigger.proto.rawValue), &out)
    }

    private static func bytesField(_ number: UInt8, _ bytes: [UInt8], _ out: inout [UInt8]) {
        guard !bytes.isEmpty else { return }
        out.append(number << 3 | 2)
        varint(UInt64(bytes.count), &out)
        out.append(contentsOf: bytes)
    }

    private static func varintField(_ number: UInt8, _ value: UInt64, _ out: inout [UInt8]) {
        guard value != 0 else { return }
        out.append(number << 3)
        varint(value, &out)
    }

    private static func varint(_ value: UInt64, _ out: inout [UInt8]) {
        var v = value
        while v >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }
}
