// The group's committed offsets converge on the worker's finished work: failed commits are retried, idle partitions committed.
import Foundation
import Synchronization
import Testing
import UserRepKafka
@testable import UserRepPipeline
import UserRepTesting

@Suite struct GroupOffsetLedgerTests {
    let a = KafkaTopicPartition(topic: "listens", partition: 0)
    let b = KafkaTopicPartition(topic: "listens", partition: 1)

    @Test func partitionsAreBehindUntilTheGroupConfirmsTheirOffsets() {
        var ledger = GroupOffsetLedger()
        ledger.assigned(a, start: 0, committed: nil)
        ledger.assigned(b, start: 40, committed: 10)
        #expect(ledger.behind == [b: 40], "a takeover that resumed from local state is behind in the group")
        ledger.finished([a: 5])
        #expect(ledger.behind == [a: 5, b: 40])
        ledger.confirmed([a: 5])
        #expect(ledger.behind == [b: 40], "an unconfirmed (failed) commit stays due")
        ledger.finished([a: 3])
        #expect(ledger.own[a] == 5, "positions never move back")
        ledger.confirmed([b: 40])
        #expect(ledger.behind.isEmpty)
    }

    @Test func removingPartitionsReturnsWhatIsStillDue() {
        var ledger = GroupOffsetLedger()
        ledger.assigned(a, start: 7, committed: 7)
        ledger.assigned(b, start: 0, committed: nil)
        ledger.finished([a: 9, b: 2])
        ledger.confirmed([b: 2])
        #expect(ledger.remove([a, b]) == [a: 9])
        #expect(ledger.own.isEmpty && ledger.behind.isEmpty)
    }
}

@Suite(.serialized) struct GroupOffsetTests {
    @Test func failedCommitsAreRetriedUntilTheGroupEqualsTheEndOfEveryPartition() throws {
        var w = try Workload(users: 100, tracks: 50, partitions: 4, seed: 79)
        defer { w.env.cleanUp() }
        try w.produceListens(2_000)
        // Every offset commit fails for a while (OffsetCommit = API key 8, OFFSET_METADATA_TOO_LARGE = 12).
        w.env.cluster.pushRequestErrors(apiKey: 8, errors: Array(repeating: 12, count: 6))
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
