// A real Kafka-compatible broker (Tansu) on a free loopback port, and the userrep binary run
// against it under librdkafka 2.12 (Debian's 2.0.2 cannot talk to Tansu).
import Foundation
import Testing
import UserRepTesting

/// The broker binary and the newer librdkafka, fetched once per test process by Tests/broker/fetch.sh.
enum BrokerTools {
    /// Directory holding `bin/tansu` and `lib/librdkafka.so.1`.
    static let directory: Result<URL, BrokerSetupError> = {
        let package = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let target = package.appendingPathComponent(".build/broker")
        let script = package.appendingPathComponent("Tests/broker/fetch.sh")
        let run = ProcessRun.start(script, [target.path], environment: [:], in: FileManager.default.temporaryDirectory)
        guard let result = try? run.get().wait(timeoutSeconds: 1_800) else { return .failure(BrokerSetupError("cannot run \(script.path)")) }
        guard result.status == 0 else {
            return .failure(BrokerSetupError("\(script.path) failed (status \(result.status)): \(result.stderr)"))
        }
        return .success(target)
    }()
}

/// Why the real-broker suite could not start.
struct BrokerSetupError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// One Tansu broker with in-memory storage, stopped when the value is released.
final class RealBroker {
    let process: Process
    let port: Int
    let tools: URL
    /// Scratch directory for files, state and logs; removed with the broker unless the environment
    /// has `USERREP_KEEP_BROKER_DIR` (every command's output stays there to read after a failure).
    let directory: URL
    var bootstrap: String { "127.0.0.1:\(port)" }

    init() throws {
        tools = try BrokerTools.directory.get()
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("userrep-broker-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        port = try freeLoopbackPort()
        process = Process()
        process.executableURL = tools.appendingPathComponent("bin/tansu")
        let url = "tcp://127.0.0.1:\(port)"
        process.arguments = ["broker", "--listener-url", url, "--advertised-listener-url", url, "--storage-engine", "memory://tansu/"]
        let log = directory.appendingPathComponent("tansu.log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        try waitUntilAccepting(port: port, process: process, seconds: 30)
    }

    deinit {
        if process.isRunning {
            // Tansu does not exit on SIGTERM while clients are connected; its storage is memory.
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        if ProcessInfo.processInfo.environment["USERREP_KEEP_BROKER_DIR"] == nil { try? FileManager.default.removeItem(at: directory) }
    }

    /// Client settings every command gets: quick group membership and short empty-fetch waits
    /// (everything runs on one machine), as the embedded-cluster tests use.
    var clientProperties: [String] {
        ["-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=500", "-X", "fetch.wait.max.ms=50"]
    }

    /// Starts `userrep args` (with `--bootstrap-servers` and the client settings added) under
    /// the newer librdkafka.
    func start(_ args: [String], kafkaOptions: Bool = true) throws -> ProcessRun {
        let binary = try userrepBinary()
        let full = args + (kafkaOptions ? ["--bootstrap-servers", bootstrap] + clientProperties : [])
        return try ProcessRun.start(binary, full, environment: ["LD_LIBRARY_PATH": tools.appendingPathComponent("lib").path], in: directory)
            .get()
    }

    /// Runs `userrep args` to its end; throws unless it exits 0.
    @discardableResult
    func userrep(_ args: [String], kafkaOptions: Bool = true, expectStatus: Int32 = 0) throws -> ProcessRun.Result {
        let result = try start(args, kafkaOptions: kafkaOptions).wait()
        guard result.status == expectStatus else {
            throw BrokerSetupError(
                "userrep \(args.joined(separator: " ")) exited \(result.status), expected \(expectStatus):\n\(result.stderr.suffix(3000))")
        }
        return result
    }

    /// Creates topic `name` with `configs` through Tansu's own command line (the test process's
    /// librdkafka cannot talk to Tansu, and `userrep topics create` sets no configs of one's choosing).
    func createTopic(_ name: String, partitions: Int, configs: [String: String]) throws {
        let args =
            ["topic", "create", name, "--broker", "tcp://\(bootstrap)", "--partitions", String(partitions)]
            + configs.sorted { $0.key < $1.key }.flatMap { ["--config", "\($0.key)=\($0.value)"] }
        let result = try ProcessRun.start(tools.appendingPathComponent("bin/tansu"), args, environment: [:], in: directory).get().wait()
        guard result.status == 0 else { throw BrokerSetupError("tansu \(args.joined(separator: " ")) exited \(result.status): \(result.stderr)") }
    }

    /// The path of `name` in the scratch directory (a state directory, say).
    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    /// Writes `lines` as a file in the scratch directory and returns its path.
    func file(_ name: String, lines: [String]) throws -> String {
        let url = directory.appendingPathComponent(name)
        try (lines.joined(separator: "\n") + "\n").write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }
}

/// A subprocess whose output goes to files (no pipe to fill up).
struct ProcessRun {
    let process: Process
    let stdout: URL
    let stderr: URL

    /// What a finished process left.
    struct Result {
        let status: Int32
        let stdout: String
        let stderr: String
        let killed: Bool
    }

    static func start(_ executable: URL, _ arguments: [String], environment: [String: String], in directory: URL)
        -> Swift.Result<ProcessRun, BrokerSetupError>
    {
        let id = UUID().uuidString
        let out = directory.appendingPathComponent("\(id).out"), err = directory.appendingPathComponent("\(id).err")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        do {
            process.standardOutput = try FileHandle(forWritingTo: out)
            process.standardError = try FileHandle(forWritingTo: err)
            try process.run()
        } catch {
            return .failure(BrokerSetupError("cannot start \(executable.path): \(error)"))
        }
        return .success(ProcessRun(process: process, stdout: out, stderr: err))
    }

    /// Standard error so far.
    var stderrSoFar: String { (try? String(contentsOf: stderr, encoding: .utf8)) ?? "" }

    /// Waits for the end of the process; one still running after `timeoutSeconds` is killed
    /// (a hung run fails its test instead of holding the suite: Tansu once never answered a
    /// worker's group join, and CI waited on it).
    func wait(timeoutSeconds: Double = 300) -> Result {
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        while process.isRunning && Date() < deadline { usleep(50_000) }
        let timedOut = process.isRunning
        if timedOut { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        return Result(
            status: process.terminationStatus,
            stdout: (try? String(contentsOf: stdout, encoding: .utf8)) ?? "",
            stderr: (timedOut ? "(killed after \(Int(timeoutSeconds)) s)\n" : "") + stderrSoFar,
            killed: process.terminationReason == .uncaughtSignal)
    }
}

/// A port nothing listens on right now (bound to port 0, read back, closed).
func freeLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw BrokerSetupError("socket() failed") }
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = 0
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    let bound = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0 else { throw BrokerSetupError("bind() failed") }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let named = withUnsafeMutablePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    guard named == 0 else { throw BrokerSetupError("getsockname() failed") }
    return Int(UInt16(bigEndian: addr.sin_port))
}

/// Returns once something accepts TCP connections on `port`; throws if `process` exits first or
/// nothing does within `seconds`.
func waitUntilAccepting(port: Int, process: Process, seconds: Double) throws {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        guard process.isRunning else {
            throw BrokerSetupError("the broker exited with status \(process.terminationStatus) before it listened")
        }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        close(fd)
        if connected == 0 { return }
        usleep(50_000)
    }
    throw BrokerSetupError("the broker did not listen on port \(port) within \(seconds) s")
}
