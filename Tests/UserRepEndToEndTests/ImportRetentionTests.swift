// `tracks import` and `events import` fail loudly when the cluster did not keep what it acknowledged.
import Foundation
import Testing
import UserRepKafka
import UserRepPipeline
import UserRepTesting

@Suite struct ImportRetentionTests {
    @Test func anImportTheEmbeddedClusterCouldNotKeepFailsAndOneItKeptSucceeds() throws {
        // 20,000 tracks of 80 + 80 floats as JSON: about 38 MB (some 15 MB compressed), more than one embedded partition keeps (5 MiB).
        var settings = SyntheticGenerator.Settings(users: 10, tracks: 20_000)
        settings.embeddingBatchID = "emb-demo-1"
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("retention-\(UUID().uuidString).jsonl")
        defer { try? FileManager.default.removeItem(at: file) }
        try TrackFile.write(SyntheticGenerator(settings: settings).trackRecords(), format: .jsonl).write(to: file)
        let cluster = try EmbeddedKafkaCluster(brokers: 1)
        try cluster.createTopic("tracks-1", partitions: 1)
        try cluster.createTopic("tracks-16", partitions: 16)
        let small = try runUserrep([
            "tracks", "import", "--file", file.path, "--topic", "tracks-1", "--bootstrap-servers", cluster.bootstrapServers,
        ])
        #expect(small.status != 0, "\(small.output)")
        #expect(small.output.contains("kept only") && small.output.contains("partition 0"), "\(small.output)")
        let large = try runUserrep([
            "tracks", "import", "--file", file.path, "--topic", "tracks-16", "--bootstrap-servers", cluster.bootstrapServers,
        ])
        #expect(large.status == 0, "\(large.output)")
        #expect(large.output.contains("imported 20000 tracks"), "\(large.output)")
    }
}
