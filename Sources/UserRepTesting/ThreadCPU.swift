// CPU time per thread of this process, grouped by what the thread does, for `userrep bench`.
import Foundation

/// CPU seconds of this process's threads, by group: the embedded cluster, the Kafka clients,
/// RocksDB's background threads and the rest (the worker's own threads: its main loop and the
/// stage threads). Read from `/proc/self/task/*/stat` (Linux); empty elsewhere.
public struct ThreadCPU: Sendable {
    /// What a thread is, from its name.
    public enum Group: String, CaseIterable, Sendable {
        /// librdkafka's mock cluster (`rdk:mock`), the embedded brokers.
        case cluster = "embedded cluster"
        /// Every other librdkafka thread (`rdk:…`): the worker's clients (and the bench's, unless
        /// `since` is told which they are).
        case kafkaClients = "kafka clients"
        /// RocksDB's flush and compaction threads (`rocksdb:…`).
        case rocksDB = "rocksdb background"
        /// The bench's load generator (a thread named `bench:load`), which makes and produces
        /// listens, and its Kafka client's threads where `since` is told them.
        case load = "bench load"
        /// Everything else: the worker's loop, its stage threads, the bench itself.
        case worker = "worker threads"

        /// The name `bench` gives its load generator's thread.
        public static let loadThreadName = "bench:load"

        /// The group of a thread named `name` (`comm`, at most 15 characters).
        public static func of(_ name: String) -> Group {
            if name.hasPrefix("rdk:mock") { return .cluster }
            if name.hasPrefix("rdk:") { return .kafkaClients }
            if name.hasPrefix("rocksdb:") { return .rocksDB }
            if name == loadThreadName { return .load }
            return .worker
        }
    }

    /// Names the calling thread (at most 15 bytes) through `/proc/thread-self/comm`, so that its
    /// group shows; nothing happens where that file is missing.
    public static func nameCurrentThread(_ name: String) {
        try? name.write(toFile: "/proc/thread-self/comm", atomically: false, encoding: .utf8)
    }

    /// CPU seconds (user + system) per thread id, with the thread's group.
    public var threads: [Int: (group: Group, seconds: Double)] = [:]

    /// An empty snapshot.
    public init() {}

    /// The threads alive now.
    public static func now() -> ThreadCPU {
        var result = ThreadCPU()
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        guard ticks > 0, let tasks = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task") else { return result }
        for task in tasks {
            guard let tid = Int(task), let stat = try? String(contentsOfFile: "/proc/self/task/\(task)/stat", encoding: .utf8),
                let parsed = parse(stat: stat, ticksPerSecond: ticks)
            else { continue }
            result.threads[tid] = (Group.of(parsed.name), parsed.seconds)
        }
        return result
    }

    /// A `stat` line's thread name and user + system CPU seconds (fields 14 and 15, counted after
    /// the parenthesised name, which may itself hold spaces or parentheses).
    public static func parse(stat: String, ticksPerSecond: Double) -> (name: String, seconds: Double)? {
        guard let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")"), open < close else { return nil }
        let name = String(stat[stat.index(after: open)..<close])
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // fields[0] is the state (field 3), so utime (14) and stime (15) are fields[11] and [12].
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (name, (user + system) / ticksPerSecond)
    }

    /// The ids of the Kafka clients' threads alive now (`rdk:…`, the embedded cluster's left out).
    public var kafkaClientThreads: Set<Int> { Set(threads.filter { $0.value.group == .kafkaClients }.keys) }

    /// CPU seconds per group spent between `earlier` and this snapshot; the threads in `load`
    /// (e.g. the load generator's own Kafka client) count as the load. Threads that ended in
    /// between are missing from both sides' difference and are left out.
    public func since(_ earlier: ThreadCPU, load: Set<Int> = []) -> [Group: Double] {
        var spent: [Group: Double] = [:]
        for (tid, now) in threads {
            let before = earlier.threads[tid].map { $0.group == now.group ? $0.seconds : 0 } ?? 0
            spent[load.contains(tid) ? .load : now.group, default: 0] += max(0, now.seconds - before)
        }
        return spent
    }
}
