// A full file system under the state directory: a clear error and a non-zero exit, never an abort or a silent exit 0; nothing lost once space returns.
import Foundation
import Testing
import UserRepKafka
import UserRepModel
import UserRepPipeline
import UserRepTesting
import UserRepState

@Suite(.serialized) struct FullDiskTests {
    /// A small tmpfs mounted under `directory`, nil (with a message) where this machine cannot mount one.
    func smallFileSystem(in directory: URL, megabytes: Int) throws -> URL? {
        let mount = directory.appendingPathComponent("small-fs")
        try FileManager.default.createDirectory(at: mount, withIntermediateDirectories: true)
        let status = try run("/bin/mount", ["-t", "tmpfs", "-o", "size=\(megabytes)m", "tmpfs", mount.path])
        guard status == 0 else {
            print("FullDiskTests: skipped, cannot mount a tmpfs here (mount exited \(status); needs root)")
            return nil
        }
        return mount
    }

    func unmount(_ mount: URL) { _ = try? run("/bin/umount", ["-l", mount.path]) }

    @discardableResult
    func run(_ tool: String, _ args: [String], stderr: Pipe? = nil) throws -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = args
        if let stderr { p.standardError = stderr }
        try p.run()
        p.waitUntilExit()
        return p.terminationStatus
    }

    /// Runs the binary to the end of its input; returns its exit status and standard error.
    func worker(_ binary: URL, _ args: [String]) throws -> (Int32, String) {
        let pipe = Pipe()
        let status = try run(binary.path, args + ["--stop-when-caught-up"], stderr: pipe)
        return (status, String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
    }

    @Test func tooLittleFreeSpaceIsRefusedAtStartWithAClearError() throws {
        let binary = try userrepBinary()
        let w = try Workload(users: 20, tracks: 20, partitions: 1, seed: 89)
        defer { w.env.cleanUp() }
        guard let mount = try smallFileSystem(in: w.env.directory, megabytes: 8) else { return }
        defer { unmount(mount) }
        let args = workerArguments(w.env, group: "userrep", state: "state", stateDirectory: mount.appendingPathComponent("state"))
        let (status, stderr) = try worker(binary, args)
        #expect(status != 0)
        #expect(stderr.contains("MiB free") && stderr.contains("--min-free-disk-mb"), "\(stderr.suffix(400))")
    }

    @Test func aDiskThatFillsWhileEventsFlowFailsTheRunAndLosesNothingOnceSpaceReturns() throws {
        let binary = try userrepBinary()
        var w = try Workload(users: 1_500, tracks: 100, partitions: 2, seed: 97)
        defer { w.env.cleanUp() }
        guard let mount = try smallFileSystem(in: w.env.directory, megabytes: 16) else { return }
        defer { unmount(mount) }
        try w.produceListens(3_000)
        let state = mount.appendingPathComponent("state")
        let args = workerArguments(w.env, group: "userrep", state: "state", stateDirectory: state) + ["--min-free-disk-mb", "1"]
        // Leave about 1.5 MiB: RocksDB opens, and the ~3.5 MB of states cannot be flushed.
        var fs = statvfs()
        statvfs(mount.path, &fs)
        let free = Int(fs.f_bavail) * Int(fs.f_frsize)
        let filler = mount.appendingPathComponent("filler")
        #expect(FileManager.default.createFile(atPath: filler.path, contents: Data(count: free - 1_536 * 1024)))
        let (status, stderr) = try worker(binary, args)
        #expect(status != 0, "a failed state flush is never an exit 0")
        #expect(stderr.contains("No space left") || stderr.contains("IO error"), "\(stderr.suffix(600))")
        #expect(!stderr.contains("Assertion"), "no abort inside RocksDB")
        print(
            "FullDiskTests: the worker on a full disk said: \(stderr.split(separator: "\n").filter { $0.contains("Error") }.joined(separator: " | "))"
        )

        try FileManager.default.removeItem(at: filler)
        let (again, stderrAgain) = try worker(binary, args)
        #expect(again == 0, "\(stderrAgain.suffix(600))")
        let states = try dumpState(state.path, model: w.env.model)
        let perUser = w.listensPerUser
        #expect(states.count == perUser.count)
        let wrong = states.filter { perUser[$0.key.userIDString] != $0.value.updateSequence }
        #expect(wrong.isEmpty, "every listen is in its user's state exactly once: \(wrong.count) users differ")
    }
}
