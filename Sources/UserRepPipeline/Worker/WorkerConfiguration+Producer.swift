// The producer settings a worker's changelog needs: no gap in a partition's records, ever.
import UserRepKafka

extension WorkerConfiguration {
    /// This configuration with the worker's producer made gapless: a user's update is its tile
    /// records, then its head, possibly in several batches, and a head delivered after a lost
    /// tile record is a state no restore can read.
    ///
    /// - `enable.gapless.guarantee` (librdkafka marks it experimental, and says so once at start):
    ///   an idempotent producer whose batch is refused for good otherwise starts a new sequence and
    ///   delivers the partition's later batches; gapless, the refusal is fatal and nothing after
    ///   it is delivered.
    /// - librdkafka's record timeout (`message.timeout.ms`, alias `delivery.timeout.ms`) is off,
    ///   and a value set for it bounds `deliveryTimeoutMs` instead: the gapless guarantee does not
    ///   cover records librdkafka times out itself (it fails those and delivers the later ones),
    ///   while the worker's own wait gives up on the whole cycle and exits. A transactional worker
    ///   keeps the timeout: librdkafka bounds it by `transaction.timeout.ms`, and an aborted
    ///   transaction's records are never read.
    func withGaplessProducer(transactional: Bool) -> WorkerConfiguration {
        var adjusted = self
        adjusted.kafka = kafka.withDefaults(["enable.gapless.guarantee": "true"])
        guard !transactional else { return adjusted }
        for key in ["message.timeout.ms", "delivery.timeout.ms"] {
            if let ms = kafka[key].flatMap({ Int32($0) }), ms > 0 { adjusted.deliveryTimeoutMs = min(adjusted.deliveryTimeoutMs, ms) }
            adjusted.kafka[key] = nil
        }
        adjusted.kafka["message.timeout.ms"] = "0"
        return adjusted
    }
}
