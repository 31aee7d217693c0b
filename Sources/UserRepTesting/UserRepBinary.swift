// Finding the built `userrep` executable, for tests that run it as a subprocess.
import Foundation
import UserRepKafka

/// The `userrep` executable built beside the test bundle.
public func userrepBinary() throws -> URL {
    let candidates = [
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("userrep"),
        URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent(".build/debug/userrep"),
    ]
    guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) else {
        throw KafkaError("userrep binary not found (looked at \(candidates.map(\.path))); run `swift build` first")
    }
    return found
}
