// The verdicts on the configs the brokers describe for the topics a worker writes.
import Testing
@testable import UserRepPipeline

@Suite struct ChangelogPolicyTests {
    @Test(arguments: [
        [:], ["retention.ms": "604800000"], ["cleanup.policy": "compact"], ["cleanup.policy": "COMPACT", "retention.ms": "1000"],
        ["cleanup.policy": "compact,delete", "retention.ms": "-1", "retention.bytes": "-1"],
        ["cleanup.policy": "delete, compact", "retention.ms": "-1", "retention.bytes": "-1"],
    ])
    func keepingPoliciesAndUndescribedOnesPass(_ configs: [String: String]) {
        #expect(StartupChecks.deletingPolicy(configs) == nil, "\(configs)")
    }

    @Test(arguments: [
        (["cleanup.policy": "delete"], "cleanup.policy=delete"),
        (["cleanup.policy": "compact,delete", "retention.ms": "604800000", "retention.bytes": "-1"], "retention.ms=604800000"),
        (["cleanup.policy": "compact,delete", "retention.ms": "-1", "retention.bytes": "1073741824"], "retention.bytes=1073741824"),
        (["cleanup.policy": "compact,delete"], "retention.ms=(default)"),
    ])
    func policiesThatDeleteRecordsAreNamed(_ configs: [String: String], _ named: String) {
        let problem = StartupChecks.deletingPolicy(configs)
        #expect(problem?.contains(named) == true, "\(problem ?? "nil") for \(configs)")
    }
}

/// A topic the worker writes must accept the largest record batch its producer may send.
@Suite struct BatchLimitTests {
    @Test(arguments: [
        ([:], 1_000_000), (["max.message.bytes": "1048588"], 1_000_000), (["max.message.bytes": "1000000"], 1_000_000),
        (["max.message.bytes": "65536"], 65_536), (["max.message.bytes": "not a number"], 1_000_000),
    ])
    func aTopicAcceptingTheProducersBatchesPasses(_ configs: [String: String], _ producerLimit: Int) {
        #expect(StartupChecks.smallerBatchLimit(configs, producerLimit: producerLimit) == nil, "\(configs)")
    }

    @Test func aTopicAcceptingLessIsNamedWithItsLimit() {
        #expect(StartupChecks.smallerBatchLimit(["max.message.bytes": "65536"], producerLimit: 1_000_000) == 65_536)
        #expect(StartupChecks.smallerBatchLimit(["max.message.bytes": " 999999"], producerLimit: 1_000_000) == 999_999)
    }
}
