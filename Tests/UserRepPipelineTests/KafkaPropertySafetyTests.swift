// The librdkafka properties a worker refuses, those it accepts, and those it sets for its restores.
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

    /// A restore reads only committed changelog records even when the inputs are read uncommitted.
    @Test(arguments: [nil, "read_uncommitted", "read_committed"])
    func restoresReadCommittedChangelogRecordsOnly(_ isolation: String?) {
        var kafka = KafkaConfiguration(["bootstrap.servers": "kafka:9092"])
        kafka["isolation.level"] = isolation
        let restore = StreamWorker.restoreConsumerConfiguration(kafka, groupID: "userrep")
        #expect(restore["isolation.level"] == "read_committed")
        #expect(restore["group.id"] == "userrep-restore")
        #expect(restore["bootstrap.servers"] == "kafka:9092")
    }
}
