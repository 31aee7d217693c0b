// A small lock for the Kafka layer's shared Swift-side state.
import Foundation

/// A mutual-exclusion lock around `NSLock` with a scoped helper.
final class Mutex: @unchecked Sendable {
    private let lock = NSLock()

    func withLock<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }
}

/// Text of a NUL-terminated error buffer filled by librdkafka.
func text(of buffer: [CChar]) -> String {
    buffer.withUnsafeBufferPointer { $0.baseAddress.map { String(cString: $0) } ?? "" }
}
