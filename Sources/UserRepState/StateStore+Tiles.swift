// Users stored as a head and one record per tile: reading them whole, writing what changed, walking them.
import UserRepModel

/// A state in the store is its head at the user's key (`u`, partition, user id) and each tile at
/// that key followed by the tile's id (`TileRecord`); a whole state written by an earlier build
/// (version 3) is read as it is and replaced by a head and tiles on its next write.
extension StateStore {
    /// The stored values (head or whole state) of `users`, nil where a user has none.
    func storedValues(_ users: [UserKey]) throws -> [StoredState?] {
        let raw = try reader(for: users).multiGet(users.map(\.storeKey))
        return try raw.enumerated().map { j, bytes in
            try bytes.map { b in
                try b.withUnsafeBytes { v in
                    do { return try UserStateCodec.decodeStored(v, expectedWidth: width) } catch let error as StateCorruption {
                        throw StateCorruption(message: "stored state of user '\(users[j].userIDString)': \(error.message)")
                    }
                }
            }
        }
    }

    /// The states of `stored` (values of `users`, same order), reading each head's tiles in one
    /// multi-get. A head whose tile is missing is corrupt.
    func withTiles(_ users: [UserKey], _ stored: [StoredState?]) throws -> [UserState?] {
        var tileKeys: [[UInt8]] = []
        for (j, value) in stored.enumerated() {
            guard case .head(let head) = value else { continue }
            let userKey = users[j].storeKey
            for id in head.tileIDs { tileKeys.append(TileRecord.key(userKey, id)) }
        }
        let tiles = tileKeys.isEmpty ? [] : try reader(for: users).multiGet(tileKeys)
        var next = 0
        return try stored.enumerated().map { j, value in
            switch value {
            case nil: return nil
            case .whole(let state): return state
            case .head(let head):
                var sums: [Float] = []
                sums.reserveCapacity(head.tileIDs.count * width)
                for id in head.tileIDs {
                    defer { next += 1 }
                    guard let bytes = tiles[next] else {
                        throw StateCorruption(
                            message:
                                "stored state of user '\(users[j].userIDString)' in partition \(users[j].partition) lacks its tile (start day \(id.start), level \(id.level.rawValue), \(id.count) listens)"
                        )
                    }
                    guard bytes.count == 4 * width else {
                        throw StateCorruption(message: "tile of user '\(users[j].userIDString)' has \(bytes.count) bytes, expected \(4 * width)")
                    }
                    bytes.withUnsafeBytes { b in
                        for k in 0..<width { sums.append(Float(bitPattern: UInt32(littleEndian: b.loadUnaligned(fromByteOffset: 4 * k, as: UInt32.self)))) }
                    }
                }
                return try head.assemble(sums: sums)
            }
        }
    }

    /// Adds state `i` of `encoded` at `key` to `batch`: its head, its written tiles, and the
    /// deletion of its removed ones.
    static func stageState(_ key: [UInt8], _ encoded: EncodedStates, _ i: Int, into batch: RocksDBAtomicWrite) {
        encoded.withHead(i) { value in key.withUnsafeBytes { batch.put($0, value) } }
        encoded.forEachWrittenTile(i) { id, sums in TileRecord.key(key, id).withUnsafeBytes { batch.put($0, sums) } }
        for id in encoded.removedTiles(i) { batch.delete(TileRecord.key(key, id)) }
    }

    /// Key bytes that `stageState(key, encoded, i)` writes.
    static func stagedKeyBytes(_ key: [UInt8], _ encoded: EncodedStates, _ i: Int) -> Int {
        let records = 1 + encoded.writtenTiles(i).count + encoded.removedTiles(i).count
        return records * key.count + (records - 1) * TileRecord.suffixSize
    }

    /// Bytes that `stageState(key, encoded, i)` adds to the pending write.
    static func stagedSize(_ key: [UInt8], _ encoded: EncodedStates, _ i: Int) -> Int {
        let tileKey = key.count + TileRecord.suffixSize
        var n = encoded.withHead(i) { RocksDBAtomicWrite.recordSize(key: key.count, value: $0.count) }
        encoded.forEachWrittenTile(i) { _, sums in n += RocksDBAtomicWrite.recordSize(key: tileKey, value: sums.count) }
        return n + encoded.removedTiles(i).count * RocksDBAtomicWrite.recordSize(key: tileKey, value: nil)
    }

    /// Adds the deletion of a user's head and every tile to the pending write.
    func stageUserDeletion(_ key: [UInt8]) {
        writes.delete(key)
        // Tile keys are the user's key, 0xFF and nine more bytes: all below the key, then eleven 0xFF.
        writes.deleteRange(from: key + [TileRecord.separator], to: key + [UInt8](repeating: 0xFF, count: TileRecord.suffixSize + 1))
    }

    /// Calls `body` for every stored user, in key order, until it returns false.
    public func forEachUser(_ body: (UserKey, UserState) throws -> Bool) throws {
        var from: [UInt8]?
        while true {
            let page = try statePage(prefix: [0x75], from: from, limit: 1_024)
            for (user, state) in page.users { guard try body(user, state) else { return } }
            guard let next = page.next else { return }
            from = next
        }
    }

    /// Up to `limit` stored users of `partition` whose ids follow `after` (from the first if nil),
    /// in key order, with their states: one page of a walk over a partition's users that can
    /// stop and resume anywhere.
    public func users(partition: Int32, after: [UInt8]?, limit: Int) throws -> [(UserKey, UserState)] {
        let prefix = UserKey(partition: partition, userID: []).storeKey
        // The smallest key after `after`: the id followed by a zero byte.
        let start = after.map { UserKey(partition: partition, userID: $0 + [0]).storeKey }
        return try statePage(prefix: prefix, from: start, limit: limit).users
    }

    /// Up to `limit` users under `prefix` from key `from`, with their states, and where the next
    /// page starts (nil at the end).
    private func statePage(prefix: [UInt8], from: [UInt8]?, limit: Int) throws -> (users: [(UserKey, UserState)], next: [UInt8]?) {
        var users: [UserKey] = []
        var stored: [StoredState?] = []
        var next: [UInt8]?
        try db.scan(prefix: prefix, from: from) { key, value in
            guard let user = Self.userKey(key) else { return true }
            guard users.count < limit else {
                next = Array(key)
                return false
            }
            users.append(user)
            do { stored.append(try UserStateCodec.decodeStored(value, expectedWidth: width)) } catch let error as StateCorruption {
                throw StateCorruption(message: "stored state of user '\(user.userIDString)': \(error.message)")
            }
            return true
        }
        let states = try withTiles(users, stored)
        return (zip(users, states).compactMap { user, state in state.map { (user, $0) } }, next)
    }

    /// Calls `body` with every stored user's key in key order, without decoding any state, until
    /// it returns false (the same order as `forEachUser`).
    public func forEachUserKey(_ body: (UserKey) throws -> Bool) throws {
        try db.scan(prefix: [0x75]) { key, _ in
            guard let user = Self.userKey(key) else { return true }
            return try body(user)
        }
    }

    /// Calls `body` with every stored user of `partition` and its head or whole state (tiles not
    /// read), in key order.
    func forEachStoredValue(partition: Int32, _ body: (UserKey, StoredState) throws -> Void) throws {
        try db.scan(prefix: UserKey.partitionPrefix(partition)) { key, value in
            guard let user = Self.userKey(key) else { return true }
            try body(user, try UserStateCodec.decodeStored(value, expectedWidth: width))
            return true
        }
    }

    /// Tile records stored for `partition`, referred to by a head or not (for checks: a tile no
    /// head refers to is left only by a cycle that did not commit, or by a zombie).
    public func tileRecordCount(partition: Int32) throws -> Int {
        var n = 0
        try db.scan(prefix: UserKey.partitionPrefix(partition)) { key, _ in
            if key.count > 5, key[5...].contains(TileRecord.separator) { n += 1 }
            return true
        }
        return n
    }

    /// The user of a state key (`u`, partition, user id), nil for a tile key or a malformed one.
    static func userKey(_ key: UnsafeRawBufferPointer) -> UserKey? {
        guard key.count >= 5, !key[5...].contains(TileRecord.separator) else { return nil }
        let partition = Int32(bigEndian: key.loadUnaligned(fromByteOffset: 1, as: Int32.self))
        return UserKey(partition: partition, userID: Array(key[5...]))
    }
}

extension StoredState {
    /// When the state's windows next change after its newest event and after `asOfMs`.
    public func nextWindowChange(after asOfMs: Int64?) -> Int64? {
        switch self {
        case .head(let head): return head.nextWindowChange(after: asOfMs)
        case .whole(let state): return state.nextWindowChange(after: asOfMs)
        }
    }
}
