// Why a worker refused to start or stopped: a configuration or environment it cannot work with.

/// A condition no retry fixes and no input record caused: the worker stops (non-zero exit, never
/// ready, nothing committed) rather than carry on wrongly. The message says what to fix.
public struct WorkerError: Error, Sendable, CustomStringConvertible {
    /// What is wrong and how to fix it.
    public let message: String

    /// Creates an error with an operator-facing message.
    public init(_ message: String) { self.message = message }

    public var description: String { message }
}
