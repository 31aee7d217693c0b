// How much longer the soak-capable tests and fuzz loops run.
import Foundation

/// How many times longer soak-capable tests run: `USERREP_SOAK=N`, at least 1.
public let soakFactor = max(1, Int(ProcessInfo.processInfo.environment["USERREP_SOAK"] ?? "1") ?? 1)
