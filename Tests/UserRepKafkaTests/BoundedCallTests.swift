// A blocking librdkafka call bounded by its caller's timeout: a call that outlives the wait is joined, not repeated.
import Foundation
import Testing

@testable import UserRepKafka

@Suite struct BoundedCallTests {
    /// A body that blocks until the test releases it, counting how often it was started.
    final class Gate: @unchecked Sendable {
        let release = DispatchSemaphore(value: 0)
        private let lock = NSLock()
        private var started = 0
        var starts: Int { lock.withLock { started } }
        func body(_ result: KafkaError?) -> @Sendable () -> KafkaError? {
            { [self] in
                lock.withLock { started += 1 }
                release.wait()
                return result
            }
        }
    }

    @Test func aCallThatOutlivesItsTimeoutThrowsARetriableTimeoutAndTheSameRequestJoinsIt() throws {
        let call = BoundedCall<Int>()
        let gate = Gate()
        // The body cannot return before the gate opens: the wait must end first, as a timeout.
        do {
            try call.call(1, timeoutMs: 20, gate.body(nil))
            Issue.record("returned while the call was still blocked")
        } catch let error as KafkaError {
            #expect(error.isTimeout && error.isRetriable)
        }
        #expect(gate.starts == 1)
        gate.release.signal()
        // The same request again: joins the first call's outcome, starts nothing new.
        try call.call(1, timeoutMs: 10_000, gate.body(KafkaError("must not run")))
        #expect(gate.starts == 1)
    }

    @Test func aDifferentRequestWaitsForTheCallInFlightThenRunsItsOwn() throws {
        let call = BoundedCall<Int>()
        let gate = Gate()
        #expect(throws: KafkaError.self) { try call.call(1, timeoutMs: 20, gate.body(KafkaError("first"))) }
        gate.release.signal()
        gate.release.signal()
        // Request 2 must not take request 1's error: it waits for 1 to end and runs its own body.
        #expect(throws: Never.self) { try call.call(2, timeoutMs: 10_000, gate.body(nil)) }
        #expect(gate.starts == 2)
    }

    @Test func anErrorOfTheCallReachesItsCaller() {
        let call = BoundedCall<Int>()
        #expect {
            try call.call(7, timeoutMs: 10_000) { KafkaError("refused", isRetriable: false) }
        } throws: { ($0 as? KafkaError)?.message == "refused" }
    }

    @Test func sendingOffsetsWithEveryBrokerDownEndsInARetriableErrorWithinItsCall() throws {
        let cluster = try EmbeddedKafkaCluster(brokers: 3)
        try cluster.createTopic("in", partitions: 2)
        try cluster.createTopic("out", partitions: 2)
        let base = KafkaConfiguration(["bootstrap.servers": cluster.bootstrapServers])
        let producer = try KafkaProducer(configuration: base, transactionalID: "bounded-call-test")
        let consumer = try KafkaConsumer(configuration: base.overriding(["group.id": "g-bounded"]))
        try consumer.subscribe(["in"])
        try producer.beginTransaction()
        try producer.produce(topic: "out", key: Array("k".utf8), value: Array("v".utf8))
        for broker in 1...Int32(cluster.brokerCount) { cluster.setBrokerDown(broker) }
        // librdkafka alone may block here until the coordinator is back (its issue #5456); the
        // call must hand back a retriable error instead, however often it is retried.
        for _ in 0..<3 {
            #expect {
                try producer.sendOffsets([KafkaTopicPartition(topic: "in", partition: 0): 1], of: consumer, timeoutMs: 500)
            } throws: { ($0 as? KafkaError)?.isRetriable == true || ($0 as? KafkaError)?.requiresAbort == true }
        }
        for broker in 1...Int32(cluster.brokerCount) { cluster.setBrokerUp(broker) }
    }
}
