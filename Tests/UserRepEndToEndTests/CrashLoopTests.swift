// The real `userrep run` binary, killed with SIGKILL again and again while listens keep arriving.
import Foundation
import Testing
import UserRepKafka
import UserRepModel
import UserRepPipeline
import UserRepTesting
import UserRepState

@Suite(.serialized) struct CrashLoopTests {
    /// Kills; USERREP_SOAK=N multiplies them for a longer run.
    static let kills = 3 * soakFactor

    @Test func repeatedSigkillWhileEventsFlowEndsInTheUninterruptedState() throws {
        let binary = try userrepBinary()
        let w = try Workload(users: 200, tracks: 150, partitions: 8, seed: 47)
        defer { w.env.cleanUp() }
        let total = 2_000 * (Self.kills + 1)
        // Listens keep arriving while the worker is killed.
        var generator = w.generator
        let sender = BurstSender(
            kafka: w.env.kafka, topic: w.env.topics.listens, events: (0..<total).map { generator.listen(index: $0, total: total) })
        try w.env.ensureChangelog(groupID: "crashing")
        let args = workerArguments(w.env, group: "crashing", state: "crashing")
        let stateDir = w.env.directory.appendingPathComponent("crashing").path
        var rng = SplitMix64(seed: 5)
        let subscriber = try OutputSubscriber(
            kafka: w.env.kafka, topic: w.env.topics.output, format: .protobuf, batchID: nil, fromBeginning: true)
        var seen = 0
        for kill in 0..<Self.kills {
            let process = try Process.run(binary, arguments: args)
            // A random point: after some more outputs than before.
            let target = seen + 50 + Int(rng.next() % 250)
            let deadline = Date().addingTimeInterval(120)
            while seen < target && process.isRunning && Date() < deadline { seen += try subscriber.poll(timeoutMs: 20).count }
            Foundation.kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            #expect(process.terminationReason == .uncaughtSignal, "kill \(kill + 1): the worker was killed, not finished")
        }
        sender.waitUntilDone()
        let last = try Process.run(binary, arguments: args + ["--stop-when-caught-up"])
        last.waitUntilExit()
        #expect(last.terminationStatus == 0)

        let reference = try runReference(w.env)

        let a = try dumpState(reference.stateDirectory, model: w.env.model)
        let b = try dumpState(stateDir, model: w.env.model)
        #expect(!a.isEmpty && differingUsers(a, b).isEmpty, "state differs for \(differingUsers(a, b).prefix(5))")
        let counts = Dictionary(uniqueKeysWithValues: b.map { ($0.key.userIDString, $0.value.totalListens) })
        #expect(counts == sender.perUser, "every user's play count equals the listens produced for them")
        let changelog = try changelogStates(w.env.kafka, w.env.topics.changelog(forGroup: "crashing"), model: w.env.model)
        #expect(differingUsers(a, changelog).isEmpty, "the changelog's newest states equal the uninterrupted run's")
        // Same state, same update sequence; the vector may differ in the last bits only, because
        // BLAS sums a row in an order that depends on the batch it is computed in.
        let vectors = try compareFinalVectors(w.env.kafka, w.env.topics.output, "reference-output")
        #expect(vectors.sameUsers)
        #expect(vectors.sequenceMismatches.isEmpty, "final update sequences differ for \(vectors.sequenceMismatches.prefix(5))")
        #expect(vectors.worst <= 1e-5, "final vectors differ by up to \(vectors.worst) (relative)")
        try w.env.verifyNothingDropped()
    }
}
