// The changelog topic's cleanup policy, asked of the brokers at start and judged between cycles.
import Foundation
import UserRepKafka

extension StreamWorker {
    /// Stops the worker once the brokers describe its changelog topic with a policy that deletes
    /// records by time or size (`StartupChecks.deletingPolicy`): a restore would lack the users
    /// whose newest state records were deleted, and start them afresh, in silence. The answer is
    /// asked at start and polled between cycles, so a broker that does not answer DescribeConfigs
    /// (the embedded cluster) delays nothing; after 30 s without one, or on a refusal (say, no
    /// permission), the check is given up, logged at debug.
    func checkChangelogPolicy() throws {
        guard let (request, askedAt) = changelogConfigs else { return }
        guard let answer = request.poll() else {
            if Date().timeIntervalSince(askedAt) > 30 {
                changelogConfigs = nil
                logger.debug("no answer to DescribeConfigs for the changelog topic: its retention is not checked")
            }
            return
        }
        changelogConfigs = nil
        switch answer {
        case .failure(let error):
            logger.debug("the changelog topic's configs cannot be read, so its retention is not checked: \(error)")
        case .success(let configs):
            logger.debug(
                "changelog topic described",
                metadata: ["topic": "\(request.topic)", "cleanup.policy": "\(configs["cleanup.policy"] ?? "(not described)")"])
            guard let problem = StartupChecks.deletingPolicy(configs) else { return }
            throw WorkerError(
                "state changelog topic '\(request.topic)' has \(problem): the brokers would delete state records, and a worker restoring a partition would start the users whose newest records were deleted afresh, losing their windows in silence; set cleanup.policy=compact on it (`userrep topics create` does)"
            )
        }
    }
}
