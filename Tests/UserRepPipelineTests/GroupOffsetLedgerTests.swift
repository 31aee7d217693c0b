// The offset ledger: which partitions the group is behind on, and what a revocation still owes.
import Testing
import UserRepKafka
@testable import UserRepPipeline

@Suite struct GroupOffsetLedgerTests {
    let a = KafkaTopicPartition(topic: "listens", partition: 0)
    let b = KafkaTopicPartition(topic: "listens", partition: 1)

    @Test func partitionsAreBehindUntilTheGroupConfirmsTheirOffsets() {
        var ledger = GroupOffsetLedger()
        ledger.assigned(a, stored: nil, committed: nil)
        ledger.assigned(b, stored: 40, committed: 10)
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

    @Test func anAssignedPartitionResumesAtTheLargerOfStoreAndGroup() {
        var ledger = GroupOffsetLedger()
        #expect(ledger.assigned(a, stored: 50, committed: 40) == .at(50), "the store is ahead of a failed commit")
        #expect(ledger.assigned(b, stored: 20, committed: 30) == .at(30), "another owner went further since this store saw it")
        let c = KafkaTopicPartition(topic: "listens", partition: 2), d = KafkaTopicPartition(topic: "listens", partition: 3)
        #expect(ledger.assigned(c, stored: nil, committed: 12) == .at(12), "a new store resumes from the group")
        #expect(ledger.assigned(d, stored: nil, committed: nil) == .beginning)
        #expect(ledger.behind == [a: 50], "only the partition the group is behind on is due")
    }

    @Test func removingPartitionsReturnsWhatIsStillDue() {
        var ledger = GroupOffsetLedger()
        ledger.assigned(a, stored: 7, committed: 7)
        ledger.assigned(b, stored: nil, committed: nil)
        ledger.finished([a: 9, b: 2])
        ledger.confirmed([b: 2])
        #expect(ledger.remove([a, b]) == [a: 9])
        #expect(ledger.own.isEmpty && ledger.behind.isEmpty)
    }
}
