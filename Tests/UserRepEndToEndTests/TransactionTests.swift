// The opt-in transactional mode: each cycle is one Kafka transaction with its input offsets.
import Foundation
import Testing
import UserRepKafka
import UserRepModel
import UserRepPipeline
import UserRepTesting
import UserRepState

@Suite(.serialized) struct TransactionTests {
    @Test func transactionalWorkerKilledAndRestartedEndsInTheUninterruptedState() throws {
        let binary = try userrepBinary()
        var w = try Workload(users: 200, tracks: 150, partitions: 4, seed: 67)
        defer { w.env.cleanUp() }
        try w.produceListens(5_000)
        let reference = try runReference(w.env)

        // The real binary with a transactional id, killed mid-stream, then restarted with the
        // same id (which aborts the open transaction of the killed one) and run to the end.
        let group = "transactional"
        try w.env.ensureChangelog(groupID: group)
        let args = workerArguments(w.env, group: group, state: "transactional") + ["--transactional-id", "worker-0"]
        try killOnceThenFinish(binary, args, env: w.env, afterOutputs: 400)

        let expected = try dumpState(reference.stateDirectory, model: w.env.model)
        let local = try dumpState(w.env.directory.appendingPathComponent("transactional").path, model: w.env.model)
        let changelog = try changelogStates(w.env.kafka, w.env.topics.changelog(forGroup: group), model: w.env.model)
        #expect(
            !expected.isEmpty && differingUsers(expected, local).isEmpty,
            "local state differs for \(differingUsers(expected, local).prefix(5))")
        #expect(differingUsers(expected, changelog).isEmpty, "changelog state differs for \(differingUsers(expected, changelog).prefix(5))")
        // Not checked: the group's committed offsets. The embedded cluster accepts TxnOffsetCommit
        // but never stores the offsets (they stay empty), so the restart resumed from the offsets
        // in its own store; on Kafka they commit with the transaction.
        let vectors = try compareFinalVectors(w.env.kafka, w.env.topics.output, "reference-output")
        #expect(vectors.sameUsers && vectors.sequenceMismatches.isEmpty && vectors.worst <= 1e-5)
    }

    @Test func abortedTransactionIsRedoneWithoutLossOrDoubleCounting() throws {
        var w = try Workload(users: 100, tracks: 80, partitions: 3, seed: 71)
        defer { w.env.cleanUp() }
        try w.produceListens(2_000)
        let reference = try runReference(w.env)
        var config = try w.env.workerConfiguration(stateName: "aborting", groupID: "aborting")
        config.transactionalID = "aborting-0"
        config.maxPollRecords = 300
        // The first TxnOffsetCommit (28) is refused with ILLEGAL_GENERATION (22), as for a member
        // the group has moved on from: that cycle's transaction must be aborted and redone.
        w.env.cluster!.pushRequestErrors(apiKey: 28, errors: [22])
        let m = try w.runToEnd(config)
        #expect(m.cyclesDiscarded >= 1, "a transaction was aborted")
        let expected = try dumpState(reference.stateDirectory, model: w.env.model)
        let actual = try dumpState(config.stateDirectory, model: w.env.model)
        #expect(
            !expected.isEmpty && differingUsers(expected, actual).isEmpty, "state differs for \(differingUsers(expected, actual).prefix(5))"
        )
    }

    /// A transactional worker on an empty disk (a replaced pod), whose group offsets are gone
    /// (expired, or, as here, never stored: the embedded cluster drops transactional offset
    /// commits), resumes where the restored changelog's states say its input was read to, not at
    /// the start: re-reading would republish every vector a read_committed subscriber already had.
    @Test func aTransactionalWorkerOnAnEmptyDiskResumesAfterTheStatesItsChangelogHolds() throws {
        var w = try Workload(users: 100, tracks: 80, partitions: 3, seed: 73)
        defer { w.env.cleanUp() }
        try w.produceListens(1_500)
        var config = try w.env.workerConfiguration(stateName: "first", groupID: "replaced")
        config.transactionalID = "replaced-0"
        let first = try w.runToEnd(config)
        #expect(first.listensApplied == 1_500 && first.outputsPublished > 0)
        let consumer = try KafkaConsumer(configuration: w.env.kafka.overriding(["group.id": "replaced"]))
        defer { consumer.close() }
        let listensPartitions = (0..<Int32(3)).map { KafkaTopicPartition(topic: w.env.topics.listens, partition: $0) }
        #expect(try consumer.committed(listensPartitions).isEmpty, "the group has no offsets to resume from")

        var replacement = try w.env.workerConfiguration(stateName: "replacement", groupID: "replaced")
        replacement.transactionalID = "replaced-0"
        let resumed = try w.runToEnd(replacement)
        #expect(resumed.restoredRecords > 0)
        #expect(
            resumed.recordsRead == 0 && resumed.duplicatesSkipped == 0 && resumed.outputsPublished == 0,
            "re-read \(resumed.recordsRead) records, \(resumed.duplicatesSkipped) duplicates, republished \(resumed.outputsPublished)")

        // And nothing after that point is skipped.
        try w.produceListens(300)
        let later = try w.runToEnd(replacement)
        #expect(later.listensApplied == 300 && later.duplicatesSkipped == 0)
    }
}
