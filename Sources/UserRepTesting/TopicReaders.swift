// Reading topics and state back for checks: whole topics, newest vectors, changelog and RocksDB states.
import Foundation
import UserRepKafka
import UserRepModel
import UserRepPipeline
import UserRepState

/// Every record on a topic, with headers, read from the beginning to the end (in offset order
/// within each partition).
public func readTopic(_ kafka: KafkaConfiguration, _ topic: String) throws -> [(
    key: [UInt8]?, value: [UInt8]?, headers: [KafkaHeader], partition: Int32
)] {
    let consumer = try KafkaConsumer(
        configuration: kafka.overriding(["group.id": "test-reader-\(UUID().uuidString)"]), trackPartitionEnd: true)
    guard let n = try consumer.partitionCount(topic: topic) else { return [] }
    var all: [KafkaTopicPartition: KafkaOffset] = [:]
    for p in 0..<Int32(n) { all[KafkaTopicPartition(topic: topic, partition: p)] = .beginning }
    try consumer.assign(all)
    let polled = KafkaPolledRecords(topics: [topic])
    var out: [(key: [UInt8]?, value: [UInt8]?, headers: [KafkaHeader], partition: Int32)] = []
    repeat {
        try consumer.poll(into: polled, maxMessages: 10_000, timeoutMs: 200)
        for i in 0..<polled.count {
            let m = polled[i]
            out.append((m.key.map { Array($0) }, m.value.map { Array($0) }, m.headers, m.partition))
        }
    } while !consumer.partitionsAtEnd.isSuperset(of: consumer.assignment)
    consumer.close()
    return out
}

/// Every user state in a closed state directory.
public func dumpState(_ directory: String, model: EncoderModel) throws -> [UserKey: UserState] {
    let store = try StateStore(directory: directory, embeddingBatchID: model.manifest.embeddingBatchId, width: model.layout.listenWidth)
    var result: [UserKey: UserState] = [:]
    try store.forEachUser { key, state in
        result[key] = state
        return true
    }
    return result
}

/// Every record of an output topic, and per user the last one computed as of the user's newest
/// event (highest update sequence, `window_expiry` records left out: they are as of the
/// partition's watermark; `latestByContract` orders those in).
public func latestVectors(_ kafka: KafkaConfiguration, _ topic: String) throws -> (
    all: [RepresentationRecord], latest: [String: RepresentationRecord]
) {
    var latest: [String: RepresentationRecord] = [:]
    var all: [RepresentationRecord] = []
    for r in try readTopic(kafka, topic) {
        guard let value = r.value else { continue }
        let record = try value.withUnsafeBytes { try RepresentationRecord.decode($0, format: .protobuf) }
        all.append(record)
        guard record.trigger != .windowExpiry else { continue }
        if (latest[record.userID]?.updateSequence ?? 0) < record.updateSequence { latest[record.userID] = record }
    }
    return (all, latest)
}

/// Per user, the record a subscriber keeps by the output contract: the highest
/// (update sequence, event time) pair, the first of equal ones.
public func latestByContract(_ records: [RepresentationRecord]) -> [String: RepresentationRecord] {
    var latest: [String: RepresentationRecord] = [:]
    for r in records {
        guard let held = latest[r.userID] else {
            latest[r.userID] = r
            continue
        }
        if (held.updateSequence, held.eventTimeMs) < (r.updateSequence, r.eventTimeMs) { latest[r.userID] = r }
    }
    return latest
}

/// A state dump with every applied input offset cleared: for comparing states built from
/// different topics holding the same events at other offsets.
public func withoutOffsets(_ states: [UserKey: UserState]) -> [UserKey: UserState] {
    states.mapValues(\.withoutAppliedOffsets)
}

/// Users whose states differ between two dumps (empty when equal), without printing the states.
public func differingUsers(_ a: [UserKey: UserState], _ b: [UserKey: UserState]) -> [String] {
    Set(a.keys).union(b.keys).filter { a[$0] != b[$0] }.map(\.userIDString).sorted()
}

/// The newest state of every user in a changelog topic: the authority once workers have stopped.
/// Reads it as a restore does: the newest head (or whole state) of each user, and its tiles from
/// the newest record of each tile key.
public func changelogStates(_ kafka: KafkaConfiguration, _ topic: String, model: EncoderModel) throws -> [UserKey: UserState] {
    let width = model.layout.listenWidth
    var heads: [UserKey: StoredState] = [:]
    var tiles: [UserKey: [TileID: [UInt8]]] = [:]
    for r in try readTopic(kafka, topic) {
        // Fired-timer records hold no state.
        guard r.key?.first != ChangelogKey.timerFiredPrefix else { continue }
        let keyBytes = r.key ?? []
        if let (userID, id) = try keyBytes.withUnsafeBytes({ try TileRecord.split($0) }) {
            tiles[UserKey(partition: r.partition, userID: userID), default: [:]][id] = r.value
            continue
        }
        let key = UserKey(partition: r.partition, userID: keyBytes)
        guard let value = r.value else { heads.removeValue(forKey: key); continue }
        heads[key] = try value.withUnsafeBytes { try UserStateCodec.decodeStored($0, expectedWidth: width) }
    }
    var result: [UserKey: UserState] = [:]
    for (key, stored) in heads {
        switch stored {
        case .whole(let state): result[key] = state
        case .head(let head):
            var sums: [Float] = []
            for id in head.tileIDs {
                guard let bytes = tiles[key]?[id] else {
                    throw StateCorruption(message: "changelog '\(topic)': user '\(key.userIDString)' lacks tile \(id)")
                }
                sums += bytes.withUnsafeBytes { b in (0..<width).map { b.loadUnaligned(fromByteOffset: 4 * $0, as: Float.self) } }
            }
            result[key] = try head.assemble(sums: sums)
        }
    }
    return result
}

/// Compares the final vector of every user on two output topics: the users, update sequences,
/// and the largest relative difference of a vector element.
public func compareFinalVectors(_ kafka: KafkaConfiguration, _ topic: String, _ referenceTopic: String) throws -> (
    sameUsers: Bool, sequenceMismatches: [String], worst: Double
) {
    let a = try latestVectors(kafka, topic).latest
    let b = try latestVectors(kafka, referenceTopic).latest
    var worst = 0.0
    var mismatches: [String] = []
    for (user, record) in a {
        guard let other = b[user] else { continue }
        if record.updateSequence != other.updateSequence { mismatches.append(user) }
        for (x, y) in zip(record.vector, other.vector) { worst = max(worst, Double(abs(x - y)) / max(1, Double(abs(y)))) }
    }
    return (Set(a.keys) == Set(b.keys), mismatches.sorted(), worst)
}
