// A stream worker's part in batch management: follow the registry, run the batch jobs it owes.
import Foundation
import UserRepKafka
import UserRepModel
import UserRepState

extension StreamWorker {
    /// What a worker of the registry starts with: the live entries of its state's embedding batch
    /// (`pinned`, else the current batch's), and the entry whose layout its state is built for (the
    /// first of those, or a staged batch of that embedding batch, which it serves once promoted).
    /// Throws when the registry has neither.
    static func startingEntries(_ registry: BatchRegistry?, pinned: String?, topic: String) throws -> (
        live: [BatchEntry], layout: BatchEntry
    ) {
        guard let registry, let embedding = pinned ?? registry.current?.embeddingBatchID else {
            throw WorkerError(
                "the batch registry (topic '\(topic)') has no current batch; promote a model first: `userrep batches promote --model DIR/manifest.json`"
            )
        }
        let live = registry.live.filter { $0.embeddingBatchID == embedding }
        guard let layout = live.first ?? registry.staged.last(where: { $0.embeddingBatchID == embedding }) else {
            throw WorkerError(
                "no live or staged batch of the registry (topic '\(topic)') reads embedding batch '\(embedding)' (live: \(registry.live.map { "\($0.batchID) of \($0.embeddingBatchID)" }.joined(separator: ", "))); see \(BatchRegistry.embeddingRunbook)"
            )
        }
        return (live, layout)
    }

    /// Between cycles: applies a newer registry document (a refused one is logged and the batches
    /// published stay as they are) and re-plans the batch jobs when the registry or the
    /// assignment changed.
    func followRegistry() throws {
        guard let registryTopic else { return }
        let changed = try registryTopic.poll()
        if changed, let document = registryTopic.registry, document.version > appliedRegistryVersion {
            apply(document)
        }
        let owned = Set(consumer.assignment.filter { $0.topic == config.topics.listens }.map(\.partition))
        if changed || owned != jobPartitions { planBatchJobs(owned) }
    }

    private func apply(_ document: BatchRegistry) {
        let live = document.live.filter { $0.embeddingBatchID == batches.embeddingBatchID }
        let before = batches.batches.map(\.batchID)
        do {
            var models: [(BatchEntry, EncoderModel)] = []
            for entry in live {
                let topic = config.topics.output(forBatch: entry.batchID)
                let partitions = try producer.partitionCount(topic: topic)
                guard partitions == inputPartitions else {
                    throw WorkerError(
                        partitions == nil
                            ? "output topic '\(topic)' of batch '\(entry.batchID)' does not exist (`userrep batches promote` creates it)"
                            : "output topic '\(topic)' has \(partitions ?? 0) partitions, the input \(inputPartitions)")
                }
                models.append((entry, try batchModels.model(for: entry)))
            }
            try batches.replace(with: models, topics: config.topics)
            metrics.registryChanges += 1
            logger.info(
                "batch registry applied",
                metadata: [
                    "version": "\(document.version)", "publishing": "\(batches.batches.map(\.batchID))", "before": "\(before)",
                ])
            if batches.batches.isEmpty {
                logger.warning(
                    "no live batch reads this worker's embedding batch '\(batches.embeddingBatchID)': it publishes nothing (a group of a retired embedding batch may be stopped)"
                )
            }
        } catch {
            metrics.registryRefusals += 1
            logger.error(
                "refusing batch registry version \(document.version); still publishing \(before): \(error)")
        }
        appliedRegistryVersion = document.version
    }

    /// Re-plans the batch jobs of `owned` partitions from the registry and its progress records,
    /// keeping this worker's own progress where it is ahead of what it has read back.
    private func planBatchJobs(_ owned: Set<Int32>) {
        guard let registryTopic, let registry = registryTopic.registry else { return }
        let planned = BatchJobPlan.jobs(
            registry: registry, embeddingBatchID: batches.embeddingBatchID, partitions: Array(owned),
            progress: { registryTopic.progress($0, batchID: $1, partition: $2) })
        let mine = Dictionary(jobs.map { ("\($0.kind)/\($0.batchID)/\($0.epoch)/\($0.partition)", $0) }, uniquingKeysWith: { a, _ in a })
        jobs = planned.map { job in
            if let own = mine["\(job.kind)/\(job.batchID)/\(job.epoch)/\(job.partition)"], own.users > job.users { return own }
            return job
        }
        jobPartitions = owned
        if !jobs.isEmpty {
            logger.info(
                "batch jobs planned",
                metadata: [
                    "jobs": "\(jobs.count)",
                    "first": "\(jobs[0].kind) \(jobs[0].batchID) partition \(jobs[0].partition) after \(jobs[0].users) users",
                ])
        }
    }

    /// Whether batch jobs are still owed (a run that stops when caught up waits for them).
    var batchJobsPending: Bool { !jobs.isEmpty }

    /// Runs one page of the first batch job, within the rate limit: the next users of its
    /// partition in key order get the batch's vector (re-encode) or a tombstone (retire), then
    /// its progress record. Returns the users handled.
    /// `deferred`: a live cycle just ran, so the next one's flush delivers the page (see
    /// `CycleCheckpoint.commitJobStep`).
    @discardableResult
    func runBatchJobStep(deferred: Bool) throws -> Int {
        guard var job = jobs.first, let registryTopic else { return 0 }
        let now = Date().timeIntervalSinceReferenceDate
        if jobLimiter == nil { jobLimiter = RateLimiter(perSecond: config.batchJobUsersPerSecond, now: now) }
        guard jobLimiter?.stepReady(wanting: config.batchJobPageUsers, now: now) == true else { return 0 }
        let allowed = jobLimiter?.take(config.batchJobPageUsers, now: now) ?? 0
        guard allowed > 0 else { return 0 }
        let page = try store.users(partition: job.partition, after: job.afterUser, limit: allowed)
        let done = page.count < allowed
        job.afterUser = page.last?.0.userID ?? job.afterUser
        job.users += page.count
        let progress = job.progress(done: done, atMs: StreamWorker.nowMs())
        var clock = StageClock()
        let committed = try checkpoint.commitJobStep(
            produce: { stepMetrics in
                switch job.kind {
                case .reencode:
                    // A batch that left the live set meanwhile is re-planned away by the next registry poll.
                    guard let batch = batches.batch(job.batchID) else { return }
                    try batch.publisher.publish(
                        page.map(\.0), page.map(\.1), triggers: page.map { _ in .batchReencode },
                        tracks: try tracks.table(covering: page.map(\.1)),
                        clock: &clock, metrics: &stepMetrics)
                    stepMetrics.usersReencoded += page.count
                    stepMetrics.batchJobUsers["reencode/\(job.batchID)", default: 0] += page.count
                case .retire:
                    let topic = try producer.openTopic(config.topics.output(forBatch: job.batchID))
                    for (user, _) in page { try producer.produce(to: topic, key: user.userID, value: nil) }
                    stepMetrics.usersTombstoned += page.count
                    stepMetrics.batchJobUsers["retire/\(job.batchID)", default: 0] += page.count
                }
            },
            confirm: { [producer] in
                let record = try BatchRegistryTopic.record(progress)
                try producer.produce(topic: registryTopic.topic, partition: 0, key: record.key, value: record.value)
            }, deferred: deferred, metrics: &metrics)
        guard committed else { return 0 }
        if done {
            jobs.removeFirst()
            metrics.batchJobsCompleted += 1
            logger.info(
                "batch job done",
                metadata: ["job": "\(job.kind)", "batch": "\(job.batchID)", "partition": "\(job.partition)", "users": "\(job.users)"])
        } else {
            jobs[0] = job
            if job.users / 10_000 != (job.users - page.count) / 10_000 {
                logger.info(
                    "batch job progress",
                    metadata: ["job": "\(job.kind)", "batch": "\(job.batchID)", "partition": "\(job.partition)", "users": "\(job.users)"])
            }
        }
        return page.count
    }
}
