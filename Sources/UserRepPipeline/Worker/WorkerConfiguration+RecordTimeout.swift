// Who times a worker's records out: the worker's delivery wait, never librdkafka.
import UserRepKafka

extension WorkerConfiguration {
    /// This configuration with librdkafka's record timeout (`message.timeout.ms`, alias
    /// `delivery.timeout.ms`) off and a value set for it bounding `deliveryTimeoutMs` instead.
    ///
    /// librdkafka's gapless guarantee does not cover records it times out itself: it fails the
    /// timed-out ones and goes on delivering the partition's later records, so a user's head could
    /// reach the changelog after a tile record before it timed out (a state no restore can read).
    /// The worker's own wait gives up on the whole cycle and exits, and nothing after it is
    /// delivered out of order. A transactional worker keeps the timeout: librdkafka bounds it by
    /// `transaction.timeout.ms`, and an aborted transaction's records are never read.
    func leavingRecordTimeoutsToTheWorker(transactional: Bool) -> WorkerConfiguration {
        guard !transactional else { return self }
        var adjusted = self
        for key in ["message.timeout.ms", "delivery.timeout.ms"] {
            if let ms = kafka[key].flatMap({ Int32($0) }), ms > 0 { adjusted.deliveryTimeoutMs = min(adjusted.deliveryTimeoutMs, ms) }
            adjusted.kafka[key] = nil
        }
        adjusted.kafka["message.timeout.ms"] = "0"
        return adjusted
    }
}
