// SIGINT/SIGTERM handling: the first signal asks for a clean stop; another, two or more seconds later, exits at once.
import Dispatch
import Foundation
import Synchronization

/// Set when the process is asked to stop; polled by worker loops between cycles.
final class StopFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    private let firstSignalAt = Atomic<UInt64>(0)

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
                let now = DispatchTime.now().uptimeNanoseconds
                let (_, first) = firstSignalAt.compareExchange(expected: 0, desired: now, ordering: .acquiringAndReleasing)
                // One signal can arrive twice (e.g. `timeout` signals the child and its process
                // group); only a signal well after the first one forces an exit.
                if first != 0 && now - first < 2_000_000_000 { return }
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
