// Scratch directories of the state tests.
import Foundation

/// A fresh path under the temporary directory, `userrep-<kind>-<uuid>` (not created).
func scratchPath(_ kind: String) -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("userrep-\(kind)-\(UUID().uuidString)").path
}
