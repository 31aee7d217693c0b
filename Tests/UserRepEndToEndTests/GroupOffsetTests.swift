// The group's committed offsets converge on the worker's finished work: failed commits are retried, idle partitions committed.
import Foundation
import Synchronization
import Testing
import UserRepKafka
@testable import UserRepPipeline
import UserRepTesting

@Suite(.serialized) struct GroupOffsetTests {
    @Test func failedCommitsAreRetriedUntilTheGroupEqualsTheEndOfEveryPartition() throws {
        var w = try Workload(users: 100, tracks: 50, partitions: 4, seed: 79)
        defer { w.env.cleanUp() }
        try w.produceListens(2_000)
        // Every offset commit fails for a while (OffsetCommit = API key 8, OFFSET_METADATA_TOO_LARGE = 12).
        w.env.cluster!.pushRequestErrors(apiKey: 8, errors: Array(repeating: 12, count: 6))
        let stop = Atomic<Bool>(false)
        let config = try w.env.workerConfiguration()
        let model = w.env.model
        let done = Mutex<Result<WorkerMetrics, Error>?>(nil)
        let thread = Thread {
            let result = Result {
                try StreamWorker(configuration: config, model: model, shouldStop: { stop.load(ordering: .acquiring) }).run(until: .never)
            }
            done.withLock { $0 = result }
        }
        thread.start()
        let admin = try w.env.admin()
        let ends = try admin.watermarks(topic: w.env.topics.listens).mapValues(\.high)
        var committed: [Int32: Int64] = [:]
        let deadline = Date().addingTimeInterval(90)
        // While the worker runs idle: its group offsets must reach the end of every partition.
        while Date() < deadline {
            committed = try committedOffsets(w.env.kafka, group: "userrep", topic: w.env.topics.listens, partitions: w.env.partitions)
            if committed == ends { break }
            usleep(200_000)
        }
        stop.store(true, ordering: .releasing)
        while done.withLock({ $0 == nil }) { usleep(20_000) }
        let metrics = try #require(try done.withLock { $0 }?.get())
        #expect(committed == ends, "group offsets \(committed) against partition ends \(ends)")
        #expect(metrics.listensApplied == 2_000)
        #expect(metrics.groupCommitFailures > 0, "the injected failures were met and retried")
    }
}
