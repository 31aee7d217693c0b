// Writing a model directory whole or not at all.
import Foundation

/// A model directory (manifest, weights and whatever else) appears complete or not at all.
public enum ModelDirectory {
    /// Calls `fill` with a fresh temporary sibling of `directory`, then moves it into place; an
    /// existing `directory` is replaced only once the new one is complete. On any error the
    /// temporary directory is removed and `directory` is left as it was.
    public static func write(_ directory: URL, _ fill: (URL) throws -> Void) throws {
        let fm = FileManager.default
        let parent = directory.deletingLastPathComponent()
        try fm.createDirectory(at: parent, withIntermediateDirectories: true)
        let temporary = parent.appendingPathComponent(".\(directory.lastPathComponent).\(UUID().uuidString).tmp")
        try fm.createDirectory(at: temporary, withIntermediateDirectories: false)
        do {
            try fill(temporary)
            if fm.fileExists(atPath: directory.path) {
                let old = parent.appendingPathComponent(".\(directory.lastPathComponent).\(UUID().uuidString).old")
                try fm.moveItem(at: directory, to: old)
                try fm.moveItem(at: temporary, to: directory)
                try? fm.removeItem(at: old)
            } else {
                try fm.moveItem(at: temporary, to: directory)
            }
        } catch {
            try? fm.removeItem(at: temporary)
            throw error
        }
    }
}
