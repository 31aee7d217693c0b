// The configs of the topics a worker writes, asked of the brokers at start and judged between cycles.
import Foundation
import UserRepKafka

/// The topics whose configs a worker asks for at start, and what it asked.
struct WrittenTopicConfigs {
    /// The request in flight.
    let request: KafkaTopicConfigRequest
    /// When it was sent.
    let askedAt: Date
    /// The state changelog among the topics, if the worker writes one.
    let changelog: String?
    /// The largest record batch the worker's producer may send (its `message.max.bytes`).
    let producerLimit: Int

    /// librdkafka's default `message.max.bytes`.
    static let librdkafkaMessageMaxBytes = 1_000_000
}

extension StreamWorker {
    /// Stops the worker once the brokers describe a topic it writes with a config that would
    /// lose or refuse its records: a changelog policy that deletes records by time or size
    /// (`StartupChecks.deletingPolicy`: a restore would start the users whose newest state
    /// records were deleted afresh, in silence), or a `max.message.bytes` below the producer's
    /// (`StartupChecks.smallerBatchLimit`: the brokers would refuse a large enough batch for good,
    /// which stops the gapless producer, and the worker with it, at every restart). The answer is
    /// asked at start and polled between cycles, so a broker that does not answer DescribeConfigs
    /// (the embedded cluster) delays nothing; after 30 s without one, or on a refusal (say, no
    /// permission), the check is given up, logged at debug.
    func checkWrittenTopicConfigs() throws {
        guard let asked = writtenTopicConfigs else { return }
        guard let answers = asked.request.poll() else {
            if Date().timeIntervalSince(asked.askedAt) > 30 {
                writtenTopicConfigs = nil
                logger.debug("no answer to DescribeConfigs for the topics the worker writes: their configs are not checked")
            }
            return
        }
        writtenTopicConfigs = nil
        var problems: [String] = []
        for topic in asked.request.topics {
            switch answers[topic] {
            case .failure(let error):
                logger.debug("topic \(topic)'s configs cannot be read, so they are not checked: \(error)")
            case .success(let configs):
                logger.debug(
                    "topic described",
                    metadata: [
                        "topic": "\(topic)", "cleanup.policy": "\(configs["cleanup.policy"] ?? "(not described)")",
                        "max.message.bytes": "\(configs["max.message.bytes"] ?? "(not described)")",
                    ])
                if topic == asked.changelog, let problem = StartupChecks.deletingPolicy(configs) {
                    problems.append(
                        "state changelog topic '\(topic)' has \(problem): the brokers would delete state records, and a worker restoring a partition would start the users whose newest records were deleted afresh, losing their windows in silence; set cleanup.policy=compact on it (`userrep topics create` does)"
                    )
                }
                if let limit = StartupChecks.smallerBatchLimit(configs, producerLimit: asked.producerLimit) {
                    problems.append(
                        "topic '\(topic)' accepts record batches of up to \(limit) bytes (max.message.bytes), but the worker's producer may send batches of up to \(asked.producerLimit) bytes (message.max.bytes): the brokers would refuse a large enough batch for good, which stops the worker at every restart; raise the topic's max.message.bytes, or pass -X message.max.bytes=\(limit) (dead letters above it then go without their key and value)"
                    )
                }
            case nil:
                break
            }
        }
        guard problems.isEmpty else { throw WorkerError(problems.joined(separator: "; ")) }
    }
}
