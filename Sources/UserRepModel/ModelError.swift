// Errors raised while loading or validating a model.

/// Why a model could not be loaded; the message names the file, tensor or field at fault.
public struct ModelError: Error, Sendable, CustomStringConvertible, Equatable {
    /// What went wrong, in words an operator can act on.
    public let message: String

    /// Creates an error with a message.
    public init(_ message: String) { self.message = message }

    public var description: String { message }
}
