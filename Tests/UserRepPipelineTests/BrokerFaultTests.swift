// The worker rides out broker outages and request errors and still ends in the undisturbed state.
import Foundation
import Synchronization
import Testing
import UserRepKafka
import UserRepPipeline
import UserRepState

@Suite(.serialized) struct BrokerFaultTests {
    @Test func brokerDownAndRequestErrorsLeaveTheFinalStateUnchanged() throws {
        var w = try Workload(users: 150, tracks: 100, partitions: 3, seed: 41)
        defer { w.env.cleanUp() }
        try w.produceListens(3_000)
        var reference = w.env.workerConfiguration(stateName: "reference")
        reference.groupID = "reference"
        try StreamWorker(configuration: reference, model: w.env.model).run(until: .whenCaughtUp())

        // Transient errors queued for the next requests of each kind: Produce (0), Fetch (1),
        // OffsetCommit (8); codes are retriable ones (NOT_LEADER 6, REQUEST_TIMED_OUT 7,
        // COORDINATOR_NOT_AVAILABLE 15).
        w.env.cluster.pushRequestErrors(apiKey: 0, errors: [6, 7, 6])
        w.env.cluster.pushRequestErrors(apiKey: 1, errors: [6, 7])
        w.env.cluster.pushRequestErrors(apiKey: 8, errors: [15, 15])
        var faulty = w.env.workerConfiguration(stateName: "faulty")
        faulty.groupID = "faulty"
        faulty.maxBatchRecords = 200
        let cycles = Mutex(0)
        let cluster = w.env.cluster
        // Take a broker down once the worker is under way, and bring it back a little later.
        let outage = Thread {
            while cycles.withLock({ $0 }) < 3 { usleep(10_000) }
            cluster.setBrokerDown(2)
            usleep(1_500_000)
            cluster.setBrokerUp(2)
        }
        outage.start()
        // The worker is released at the end of the statement, closing its state store.
        let m = try StreamWorker(configuration: faulty, model: w.env.model, shouldStop: {
            cycles.withLock { $0 += 1 }
            return false
        }).run(until: .whenCaughtUp())
        #expect(m.listensApplied == 3_000)
        #expect(m.cycles >= 3, "the outage happened while the worker was running")

        let a = try dumpState(reference.stateDirectory, model: w.env.model)
        let b = try dumpState(faulty.stateDirectory, model: w.env.model)
        #expect(!a.isEmpty && differingUsers(a, b).isEmpty, "state differs for \(differingUsers(a, b).prefix(5))")
        try w.env.verifyNothingDropped()
    }
}
