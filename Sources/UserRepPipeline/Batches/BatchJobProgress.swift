// How far a worker has got with a batch job on one partition: a record of the registry topic.
import Foundation

/// A background job over every user of one partition, for one batch.
public enum BatchJobKind: String, Codable, Sendable {
    /// Publish every user's vector of a newly live batch (trigger `batch_reencode`).
    case reencode
    /// Tombstone every user's record of a retired batch.
    case retire
}

/// Progress of a batch job on one input partition, kept in the registry topic under
/// `key(kind:batchID:partition:)`. `done` is the per-partition completion record: downstream knows
/// the batch covers (or, for `retire`, no longer holds) every user of the partition.
public struct BatchJobProgress: Codable, Sendable, Equatable {
    /// Which job.
    public var kind: BatchJobKind
    /// The batch it is for.
    public var batchID: String
    /// The `promotedVersion` of the batch entry the job is for.
    public var epoch: Int
    /// The input partition.
    public var partition: Int32
    /// Hex of the last user id handled (users go in state-store key order); nil before the first.
    public var afterUser: String?
    /// Users handled so far.
    public var users: Int
    /// Whether every user of the partition has been handled.
    public var done: Bool
    /// When this progress was written (ms since the epoch).
    public var updatedMs: Int64

    /// Creates a progress record.
    public init(
        kind: BatchJobKind, batchID: String, epoch: Int, partition: Int32, afterUser: [UInt8]?, users: Int, done: Bool, updatedMs: Int64
    ) {
        self.kind = kind
        self.epoch = epoch
        self.batchID = batchID
        self.partition = partition
        self.afterUser = afterUser.map(Self.hex)
        self.users = users
        self.done = done
        self.updatedMs = updatedMs
    }

    /// The last user id handled, as bytes.
    public var afterUserID: [UInt8]? { afterUser.flatMap(Self.bytes(hex:)) }

    /// The registry-topic key of a job's progress on a partition.
    public static func key(kind: BatchJobKind, batchID: String, partition: Int32) -> String {
        "\(kind.rawValue)/\(batchID)/\(partition)"
    }

    /// This record's key.
    public var key: String { Self.key(kind: kind, batchID: batchID, partition: partition) }

    enum CodingKeys: String, CodingKey {
        case kind, batchID = "batch_id", epoch, partition, afterUser = "after_user", users, done, updatedMs = "updated_ms"
    }

    static func hex(_ bytes: [UInt8]) -> String {
        bytes.map { b in
            let s = String(b, radix: 16)
            return b < 16 ? "0" + s : s
        }.joined()
    }

    static func bytes(hex: String) -> [UInt8]? {
        let digits = Array(hex.utf8)
        guard digits.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(digits.count / 2)
        for i in stride(from: 0, to: digits.count, by: 2) {
            guard let byte = UInt8(String(decoding: digits[i..<(i + 2)], as: UTF8.self), radix: 16) else { return nil }
            out.append(byte)
        }
        return out
    }
}
