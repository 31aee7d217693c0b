// Which changelog topic configs keep every user's newest state record, and which delete some.
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
