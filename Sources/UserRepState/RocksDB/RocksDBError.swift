// Errors from the RocksDB C API.
import CRocksDB

/// A RocksDB failure with RocksDB's own message.
public struct RocksDBError: Error, Sendable, CustomStringConvertible {
    /// RocksDB's message, prefixed with what we were doing.
    public let message: String

    /// Creates an error with a message.
    public init(_ message: String) { self.message = message }

    public var description: String { message }

    /// Throws if RocksDB set `errptr`, freeing it.
    static func check(_ errptr: UnsafeMutablePointer<CChar>?, _ context: @autoclosure () -> String) throws {
        guard let errptr else { return }
        let text = String(cString: errptr)
        rocksdb_free(errptr)
        throw RocksDBError("\(context()): \(text)")
    }
}
