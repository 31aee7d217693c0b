// What a worker checks before it touches state or Kafka topics: disk space and that its topics exist.
import Foundation
import UserRepKafka

/// Checks run before the state store opens and before any topic is opened for writing.
enum StartupChecks {
    /// Throws for librdkafka properties under which the worker's exactly-once state does not hold,
    /// however they reached it (`-X`, a properties file): producer acknowledgements short of
    /// `all` (a leader that fails over can lose changelog records that the group offsets already
    /// vouch for: the next owner restores a state without them and resumes after their listens),
    /// a producer without idempotence or gapless delivery (a batch refused for good would leave a
    /// gap on the changelog: see `WorkerConfiguration.withGaplessProducer`), and librdkafka's
    /// automatic offset commits (which commit what was polled, not what is durable: the worker
    /// commits each cycle's offsets itself once its state is in the changelog).
    static func requireSafeKafkaProperties(_ kafka: KafkaConfiguration) throws {
        for key in ["acks", "request.required.acks"] {
            guard let value = kafka[key], !["all", "-1"].contains(value.lowercased()) else { continue }
            throw WorkerError(
                "-X \(key)=\(value) is refused: a broker that loses its leader may then lose changelog records the group offsets already vouch for, and the next owner of their partition would resume without their listens; leave \(key) unset (librdkafka's default is all) or set it to all"
            )
        }
        for key in ["enable.idempotence", "enable.gapless.guarantee"] {
            guard let value = kafka[key], kafka.flag(key) == false else { continue }
            throw WorkerError(
                "-X \(key)=\(value) is refused: a batch the broker refuses for good would then leave a gap on the changelog, with later records delivered after it, so a user's head could be kept without the tile records before it and no restore could read that state; leave \(key) unset (the worker's default is true)"
            )
        }
        if let value = kafka["enable.auto.commit"], kafka.flag("enable.auto.commit") == true {
            throw WorkerError(
                "-X enable.auto.commit=\(value) is refused: librdkafka would commit offsets of records whose state is not yet in the changelog, and a crash would skip them; the worker commits each cycle's offsets itself once its state is durable"
            )
        }
    }

    /// Throws when one topic is named for two roles (`roles`: what the worker uses a topic for,
    /// with the option naming it, and the topic). Each role's records would be read as the other's:
    /// outputs written to the changelog make every restore of the partition fail, outputs or dead
    /// letters written to an input are read back as malformed events, one topic as listens and
    /// onboarding would be read twice.
    static func requireOneRolePerTopic(_ roles: [(role: String, topic: String)]) throws {
        var seen: [String: String] = [:]
        for (role, topic) in roles {
            if let other = seen[topic], other != role {
                throw WorkerError(
                    "topic '\(topic)' is named both as the \(other) and as the \(role); each needs a topic of its own")
            }
            seen[topic] = role
        }
    }

    /// How `configs` (a topic's, as the brokers describe it) delete records, nil when they keep
    /// the newest record of every key: `cleanup.policy` compact, without delete, or with delete
    /// but neither time nor size retention. Nil too when no policy is described.
    static func deletingPolicy(_ configs: [String: String]) -> String? {
        guard let policy = configs["cleanup.policy"] else { return nil }
        let policies = Set(policy.lowercased().split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
        guard policies.contains("compact") else { return "cleanup.policy=\(policy)" }
        guard policies.contains("delete") else { return nil }
        let ms = configs["retention.ms"] ?? "(default)", bytes = configs["retention.bytes"] ?? "(default)"
        return ms == "-1" && bytes == "-1" ? nil : "cleanup.policy=\(policy) with retention.ms=\(ms) and retention.bytes=\(bytes)"
    }

    /// The size of record batch a topic's `configs` accept (`max.message.bytes`), when it is
    /// below `producerLimit`, the largest batch the worker's producer may send; nil when the
    /// topic accepts that (or describes no limit).
    static func smallerBatchLimit(_ configs: [String: String], producerLimit: Int) -> Int? {
        guard let text = configs["max.message.bytes"], let limit = Int(text.trimmingCharacters(in: .whitespaces)), limit < producerLimit
        else { return nil }
        return limit
    }

    /// Throws unless the file system of `directory` (or of its nearest existing parent) has at
    /// least `minimumBytes` free. RocksDB cannot open, or aborts, on a full disk.
    static func requireFreeSpace(at directory: String, minimumBytes: Int64) throws {
        var path = URL(fileURLWithPath: directory).standardizedFileURL.path
        while !FileManager.default.fileExists(atPath: path) && path != "/" {
            path = (path as NSString).deletingLastPathComponent
        }
        var fs = statvfs()
        guard statvfs(path, &fs) == 0 else {
            throw WorkerError("cannot read the free space of \(path): \(String(cString: strerror(errno)))")
        }
        let free = Int64(fs.f_bavail) * Int64(fs.f_frsize)
        guard free >= minimumBytes else {
            throw WorkerError(
                "only \(free >> 20) MiB free on the file system of the state directory \(directory) (at least \(minimumBytes >> 20) MiB needed, --min-free-disk-mb); free some space or move --state-dir"
            )
        }
    }

    /// The partition count of every one of `topics`, asked of the cluster without opening any of
    /// them (opening a topic for writing can make a broker auto-create it). Throws naming every
    /// missing topic, or naming the bootstrap servers when no broker answers.
    static func partitionCounts(of topics: [String], producer: KafkaProducer, bootstrap: String) throws -> [String: Int] {
        var counts: [String: Int] = [:]
        var missing: [String] = []
        for topic in topics where counts[topic] == nil {
            let count: Int?
            do { count = try producer.partitionCount(topic: topic) } catch let error as KafkaError {
                producer.poll(timeoutMs: 0)
                throw KafkaError(unreachable: bootstrap, error: error, lastClientError: producer.lastClientError)
            }
            if let count { counts[topic] = count } else { missing.append(topic) }
        }
        guard missing.isEmpty else {
            throw WorkerError(
                "topic\(missing.count == 1 ? "" : "s") \(missing.map { "'\($0)'" }.joined(separator: ", ")) do\(missing.count == 1 ? "es" : "") not exist; create \(missing.count == 1 ? "it" : "them") first (`userrep topics create`). userrep never lets a broker auto-create its topics, since an auto-created topic has the wrong partition count and no compaction"
            )
        }
        return counts
    }
}
