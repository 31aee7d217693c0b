// The worker's local track table: a restart reads only what changed on the topic, and a bounded cache changes no state.
import Foundation
import Testing
import UserRepKafka
import UserRepModel
import UserRepPipeline
import UserRepState
import UserRepTesting

@Suite(.serialized) struct LocalTrackTableTests {
    @Test func aRestartReadsOnlyNewTrackRecordsAndASmallCacheChangesNoState() throws {
        var w = try Workload(users: 60, tracks: 120, partitions: 2, seed: 91)
        defer { w.env.cleanUp() }
        try w.produceListens(1_500)
        let reference = try runReference(w.env)

        // A cache of about 15 of the 120 tracks: cycles read tracks from the store again and again.
        var config = try w.env.workerConfiguration(stateName: "small-cache", groupID: "small-cache")
        let width = w.env.model.manifest.embeddingDims.audio + w.env.model.manifest.embeddingDims.collaborative
        config.trackCacheBytes = 15 * (width * 4 + 100)
        config.maxPollRecords = 100
        let first = try w.runToEnd(config)
        #expect(first.trackUpdates == 120, "an empty state directory reads the whole track topic")
        #expect(first.trackCacheLoads > 120, "the bound made cycles read evicted tracks again (\(first.trackCacheLoads) loads)")
        let expected = try dumpState(reference.stateDirectory, model: w.env.model)
        let actual = try dumpState(config.stateDirectory, model: w.env.model)
        #expect(
            !expected.isEmpty && differingUsers(expected, actual).isEmpty, "state differs for \(differingUsers(expected, actual).prefix(5))"
        )

        // Changes on the topic: a new track, and a tombstone of another; then a
        // listen of each.
        let records = w.generator.trackRecords()
        var added = records[0]
        added.trackID = Array("t-added".utf8)
        let removed = records[1].trackID
        let producer = try KafkaProducer(configuration: w.env.kafka)
        try producer.produce(topic: w.env.topics.tracks, key: added.trackID, value: added.json())
        try producer.produce(topic: w.env.topics.tracks, key: removed, value: nil)
        let user = Array("u1".utf8)
        for track in [added.trackID, removed] {
            let listen = Array(#"{"user_id":"u1","track_id":""#.utf8) + track + Array(#"","timestamp_ms":1780000000000}"#.utf8)
            try producer.produce(topic: w.env.topics.listens, key: user, value: listen)
        }
        try producer.flush(timeoutMs: 10_000)

        let second = try w.runToEnd(config)
        #expect(second.trackUpdates == 1, "the restart read the new record only, not the 120 before it")
        #expect(second.listensApplied == 1, "the added track is known")
        #expect(second.deadLetters[DeadLetterReason.unknownTrack.rawValue] == 1, "the removed track is gone from the local table")
        var stored: [[UInt8]] = []
        let store = try TrackStore(
            directory: config.trackStoreDirectory,
            identity: TrackStore.Identity(
                topic: w.env.topics.tracks, batchID: w.env.model.manifest.embeddingBatchId, dims: w.env.model.manifest.embeddingDims,
                partitions: try #require(try producer.partitionCount(topic: w.env.topics.tracks))))
        try store.forEachTrack { id, _ in stored.append(id) }
        #expect(stored.count == 120 && stored.contains(added.trackID) && !stored.contains(removed))
        #expect(store.counters.tracks == 120)
    }

    /// A local table whose offsets lie past the end of the track topic it is given (the topic was
    /// deleted and re-created: here another cluster's, with fewer records) is emptied and read
    /// again, though a fetch now confirms a topic's end before that call.
    @Test func aLocalTableAheadOfItsTopicIsEmptiedAndReadAgain() throws {
        var before = try Workload(users: 60, tracks: 120, partitions: 2, seed: 92)
        defer { before.env.cleanUp() }
        try before.produceListens(300)
        let config = try before.env.workerConfiguration(stateName: "moved", groupID: "moved")
        #expect(try before.runToEnd(config).trackUpdates == 120)
        var after = try Workload(users: 60, tracks: 40, partitions: 2, seed: 92)
        defer { after.env.cleanUp() }
        try after.produceListens(300)
        var moved = try after.env.workerConfiguration(stateName: "unused", groupID: "moved")
        moved.stateDirectory = config.stateDirectory
        let m = try after.runToEnd(moved)
        #expect(m.trackUpdates == 40, "the whole new topic was read into an emptied table: \(m.summary)")
        #expect(m.listensApplied == 300, "\(m.summary)")
    }
}
