// A blocking librdkafka call that its caller waits for no longer than it asked to.
import CRdKafka
import Foundation

/// Runs one blocking call at a time on a thread of its own, so that the caller waits at most its
/// timeout even when librdkafka does not: `rd_kafka_send_offsets_to_transaction` can block far past
/// its `timeout_ms` while the group coordinator is down (librdkafka issue #5456, open in every
/// release up to 2.14). A call still running when the wait ends keeps running, holding what it
/// uses; the next `call` with the same request joins it rather than start a second one, the way
/// librdkafka's own transactional calls resume after a timeout.
final class BoundedCall<Request: Equatable & Sendable>: @unchecked Sendable {
    private let condition = NSCondition()
    /// The request in flight or finished and not yet collected, and its outcome once it ended.
    private var current: (request: Request, outcome: KafkaError??)?

    /// Starts `body` for `request` (or joins the same request already in flight; a different one
    /// in flight is waited for first) and waits up to `timeoutMs` in all. Returns `body`'s error or
    /// nil on success; throws a retriable timeout when the call has not returned in time.
    func call(_ request: Request, timeoutMs: Int32, _ body: @escaping @Sendable () -> KafkaError?) throws {
        let deadline = Date(timeIntervalSinceNow: Double(max(0, timeoutMs)) / 1000)
        condition.lock()
        defer { condition.unlock() }
        // Another request's call: let it end (its outcome belongs to a caller that gave up).
        while let other = current, other.request != request {
            if other.outcome != nil {
                current = nil
            } else if !condition.wait(until: deadline) {
                throw Self.timedOut
            }
        }
        if current == nil {
            current = (request, nil)
            Thread.detachNewThread { [self] in
                let error = body()
                condition.lock()
                current?.outcome = .some(error)
                condition.broadcast()
                condition.unlock()
            }
        }
        while true {
            if let outcome = current?.outcome {
                current = nil
                if let error = outcome { throw error }
                return
            }
            if !condition.wait(until: deadline) { throw Self.timedOut }
        }
    }

    /// What a caller gets when its wait ends before the call.
    private static var timedOut: KafkaError {
        KafkaError(
            code: RD_KAFKA_RESP_ERR__TIMED_OUT.rawValue, name: "_TIMED_OUT",
            message: "librdkafka did not return within the timeout; the call goes on and the next one joins it", isFatal: false,
            isRetriable: true, requiresAbort: false)
    }
}

/// Owns a consumer's group metadata (what a transaction's offsets are committed as) and frees it.
final class GroupMetadata: @unchecked Sendable {
    // Immutable once made; librdkafka only reads it.
    let pointer: OpaquePointer

    init?(of consumer: RDKafkaClient) {
        guard let pointer = rd_kafka_consumer_group_metadata(consumer.handle) else { return nil }
        self.pointer = pointer
    }

    deinit { rd_kafka_consumer_group_metadata_destroy(pointer) }
}
