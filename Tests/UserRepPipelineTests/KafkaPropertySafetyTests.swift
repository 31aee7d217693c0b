// The librdkafka properties a worker refuses, and those it accepts.
import Testing
import UserRepKafka
@testable import UserRepPipeline

@Suite struct KafkaPropertySafetyTests {
    @Test(arguments: [
        [:], ["acks": "all"], ["acks": "ALL"], ["acks": "-1"], ["request.required.acks": "-1"], ["enable.auto.commit": "false"],
        ["linger.ms": "5", "compression.codec": "zstd"],
    ])
    func acknowledgedByAllAndCommittedByTheWorkerIsAccepted(_ properties: [String: String]) throws {
        try StartupChecks.requireSafeKafkaProperties(KafkaConfiguration(properties))
    }

    @Test(arguments: [
        ["acks": "1"], ["acks": "0"], ["request.required.acks": "1"], ["acks": "all", "request.required.acks": "0"],
        ["enable.auto.commit": "true"], ["enable.auto.commit": "TRUE"],
    ])
    func fewerAcknowledgementsOrAutomaticCommitsAreRefused(_ properties: [String: String]) {
        #expect(throws: WorkerError.self) { try StartupChecks.requireSafeKafkaProperties(KafkaConfiguration(properties)) }
    }
}
