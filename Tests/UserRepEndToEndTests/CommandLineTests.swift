// The CLI surface: every command's --help shows an example, and bad options fail with a clear message.
import Foundation
import Testing

@Suite struct CommandLineTests {
    /// Runs the `userrep` binary; returns its exit status and combined output.
    func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = try userrepBinary()
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    @Test(arguments: [["run"], ["backfill"], ["demo"], ["bench"], ["subscribe"], ["model", "init"], ["model", "inspect"],
                      ["tracks", "import"], ["tracks", "generate"], ["topics", "create"]])
    func everyCommandsHelpHasAnExample(_ command: [String]) throws {
        let (status, output) = try run(command + ["--help"])
        #expect(status == 0)
        #expect(output.contains("Example"), "\(command.joined(separator: " ")) --help:\n\(output)")
    }

    @Test(arguments: [
        (["run", "--model", "m.json", "--threads", "0"], "--threads must be at least 1"),
        (["backfill", "--model", "m.json", "--replay-topic", "t", "--max-batch", "0"], "--max-batch must be at least 1"),
        (["bench", "--threads=-2"], "--threads must be at least 1"),
    ])
    func badCycleOptionsAreRefusedClearly(_ arguments: [String], _ message: String) throws {
        let (status, output) = try run(arguments)
        #expect(status != 0)
        #expect(output.contains(message), "output: \(output)")
    }
}
