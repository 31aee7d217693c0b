// Reading a topic back in the Kafka layer's tests.
import Foundation
import UserRepKafka

/// Polls `consumer` (subscribed to `topics`) and hands each record to `body` until `done` holds
/// or 30 seconds pass.
func pollUntil(_ consumer: KafkaConsumer, topics: [String], _ done: () -> Bool, _ body: (KafkaMessage) -> Void) throws {
    let polled = KafkaPolledRecords(topics: topics)
    let deadline = Date().addingTimeInterval(30)
    while !done() && Date() < deadline {
        try consumer.poll(into: polled, maxMessages: 1_000, timeoutMs: 200)
        for i in 0..<polled.count { body(polled[i]) }
    }
}
