// Where a user's state lives: input partition plus user id.

/// Identifies a user's state. State is kept per input partition so a partition's users can move
/// between workers together.
public struct UserKey: Sendable, Hashable {
    /// Input partition the user's events arrive on.
    public let partition: Int32
    /// User id as UTF-8 bytes (the record key).
    public let userID: [UInt8]

    /// Creates a key.
    public init(partition: Int32, userID: [UInt8]) {
        self.partition = partition
        self.userID = userID
    }

    /// Hashes the partition and the id's bytes in one call (an array of bytes hashes byte by byte).
    public func hash(into hasher: inout Hasher) {
        hasher.combine(partition)
        userID.withUnsafeBytes { hasher.combine(bytes: $0) }
    }

    /// The user id as text.
    public var userIDString: String { String(decoding: userID, as: UTF8.self) }

    /// The store key: `u`, partition (big endian), user id.
    var storeKey: [UInt8] {
        var key = Self.partitionPrefix(partition)
        key.append(contentsOf: userID)
        return key
    }

    /// The prefix of every store key of `partition`.
    static func partitionPrefix(_ partition: Int32) -> [UInt8] {
        var key: [UInt8] = [0x75]
        key.reserveCapacity(5 + 32)
        withUnsafeBytes(of: partition.bigEndian) { key.append(contentsOf: $0) }
        return key
    }
}
