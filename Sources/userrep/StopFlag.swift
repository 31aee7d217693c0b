// SIGINT/SIGTERM handling: the first signal asks for a clean stop, the second exits at once.
import Dispatch
import Foundation
import Synchronization

/// Set when the process is asked to stop; polled by worker loops between cycles.
final class StopFlag: Sendable {
    private let flag = Atomic<Bool>(false)

    /// Whether a stop was requested.
    var isSet: Bool { flag.load(ordering: .acquiring) }

    /// Requests a stop.
    func set() { flag.store(true, ordering: .releasing) }

    /// Installs handlers for SIGINT and SIGTERM.
    func trapSignals() {
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { [self] in
                if isSet {
                    FileHandle.standardError.write(Data("second signal: exiting without flushing\n".utf8))
                    exit(130)
                }
                FileHandle.standardError.write(Data("stopping after the current cycle (signal again to force)\n".utf8))
                set()
            }
            source.resume()
            installedSignalSources.append(source)
        }
    }
}

/// Signal sources must stay alive to deliver; installed once from the main thread at start-up.
nonisolated(unsafe) private var installedSignalSources: [DispatchSourceSignal] = []
