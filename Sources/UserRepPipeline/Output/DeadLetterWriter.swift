// Produces dead-letter records so that every one of them can be delivered, whatever its size.
import UserRepKafka

/// Sends rejected input records to the dead-letter topic. A record is cut to `maxBytes` of key
/// and value (see `DeadLetterRecord.payload`); if the producer still refuses it for its size
/// (a smaller `message.max.bytes`), it goes with headers only. No input record can therefore
/// make the dead-letter produce fail and stop its partition.
struct DeadLetterWriter {
    let producer: KafkaProducer
    let topic: KafkaOutputTopic
    let maxBytes: Int

    /// Queues one dead letter; returns whether it had to be truncated.
    func send(_ record: DeadLetterRecord, _ rejection: InputRejection) throws -> Bool {
        let payload = record.payload(for: rejection, maxBytes: maxBytes)
        do {
            try producer.produce(to: topic, key: payload.key, value: payload.value, headers: payload.headers)
            return payload.key?.count != record.key?.count || payload.value?.count != record.value?.count
        } catch let error as KafkaError where error.isMessageTooLarge {
            let bare = record.payload(for: rejection, maxBytes: 0)
            try producer.produce(to: topic, key: bare.key, value: bare.value, headers: bare.headers)
            return true
        }
    }
}
