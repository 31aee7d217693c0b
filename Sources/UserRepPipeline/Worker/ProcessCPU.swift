// The process's CPU time, for the exit summary's CPU per event and for bench.
import Foundation

/// User plus system CPU seconds of this whole process (every thread, ended ones included).
public enum ProcessCPU {
    /// CPU seconds used by the process so far.
    public static func seconds() -> Double {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }
}
