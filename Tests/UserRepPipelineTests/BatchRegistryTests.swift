// The registry's transitions, the batch jobs a worker owes, and the jobs' rate limit.
import Foundation
import Testing
@testable import UserRepPipeline

struct BatchRegistryTests {
    func entry(_ id: String, embedding: String = "e1") -> BatchEntry {
        BatchEntry(batchID: id, embeddingBatchID: embedding, model: "/models/\(id)/manifest.json", weightsSHA256: "sha-\(id)")
    }

    @Test func promotionsMoveCurrentToLegacyToRetired() throws {
        var r = BatchRegistry()
        try r.promote(entry("b1"), atMs: 1)
        #expect(r.current?.batchID == "b1" && r.legacy == nil && r.version == 1)
        try r.promote(entry("b2"), atMs: 2)
        #expect(r.live.map(\.batchID) == ["b2", "b1"])
        try r.promote(entry("b3"), atMs: 3)
        #expect(r.live.map(\.batchID) == ["b3", "b2"])
        #expect(r.batches.first { $0.batchID == "b1" }?.state == .retired)
        #expect(r.batches.map(\.promotedVersion) == [1, 2, 3])
        #expect(r.version == 3)
        // Rolling back: the legacy batch becomes current again, the current one legacy, under a new promotion.
        try r.promote(entry("b2"), atMs: 4)
        #expect(r.live.map(\.batchID) == ["b2", "b3"] && r.current?.promotedVersion == 4)
        #expect(throws: BatchRegistryError.self) { try r.promote(entry("b2"), atMs: 5) }
        // The document round-trips through its JSON.
        #expect(try BatchRegistry.decode(try r.encoded()) == r)
    }

    @Test func anotherEmbeddingBatchIsRefusedUnlessAcknowledged() throws {
        var r = BatchRegistry()
        try r.promote(entry("b1"), atMs: 1)
        let error = #expect(throws: BatchRegistryError.self) { try r.promote(entry("x1", embedding: "e2"), atMs: 2) }
        #expect(error?.description.contains("Rotating to a new embedding batch") == true)
        #expect(r.version == 1, "a refused change changes nothing")
        try r.promote(entry("x1", embedding: "e2"), atMs: 2, newEmbeddingBatch: true)
        #expect(r.current?.batchID == "x1" && r.legacy?.batchID == "b1")
    }

    @Test func onlyTheLegacyBatchCanBeRetired() throws {
        var r = BatchRegistry()
        try r.promote(entry("b1"), atMs: 1)
        try r.promote(entry("b2"), atMs: 2)
        #expect(throws: BatchRegistryError.self) { try r.retire("b2", atMs: 3) }
        #expect(throws: BatchRegistryError.self) { try r.retire("nope", atMs: 3) }
        try r.retire("b1", atMs: 3)
        #expect(r.live.map(\.batchID) == ["b2"] && r.version == 3)
        #expect(throws: BatchRegistryError.self) { try r.retire("b1", atMs: 4) }
    }

    @Test func jobsFollowTheRegistryAndResumeAtTheirProgress() throws {
        var r = BatchRegistry()
        try r.promote(entry("b1"), atMs: 1)
        try r.promote(entry("b2"), atMs: 2)
        try r.promote(entry("b3"), atMs: 3)
        try r.promote(entry("x1", embedding: "e2"), atMs: 4, newEmbeddingBatch: true)
        // Live: x1 (e2), b3 (e1). Retired: b1, b2.
        var recorded: [String: BatchJobProgress] = [:]
        func put(_ kind: BatchJobKind, _ batch: String, epoch: Int, _ p: Int32, after: [UInt8]?, users: Int, done: Bool) {
            let record = BatchJobProgress(
                kind: kind, batchID: batch, epoch: epoch, partition: p, afterUser: after, users: users, done: done, updatedMs: 0)
            recorded[record.key] = record
        }
        put(.reencode, "b3", epoch: 3, 0, after: [0x61, 0xff], users: 40, done: false)
        put(.reencode, "b3", epoch: 3, 1, after: nil, users: 90, done: true)
        put(.retire, "b1", epoch: 1, 0, after: nil, users: 5, done: true)
        put(.retire, "b2", epoch: 1, 0, after: nil, users: 5, done: true)  // an older promotion's record: not this one's
        let jobs = BatchJobPlan.jobs(registry: r, embeddingBatchID: "e1", partitions: [1, 0]) { kind, batch, p in
            recorded[BatchJobProgress.key(kind: kind, batchID: batch, partition: p)]
        }
        #expect(jobs.map { "\($0.kind)/\($0.batchID)/\($0.partition)" } == ["reencode/b3/0", "retire/b1/1", "retire/b2/0", "retire/b2/1"])
        #expect(jobs[0].afterUser == [0x61, 0xff] && jobs[0].users == 40, "resumes after the recorded user")
        #expect(jobs[2].afterUser == nil && jobs[2].users == 0, "a record of another promotion does not count")
    }

    @Test func progressKeysAndHexRoundTrip() throws {
        let p = BatchJobProgress(
            kind: .retire, batchID: "b9", epoch: 7, partition: 3, afterUser: [0, 1, 0xab, 0xff], users: 2, done: false, updatedMs: 5)
        #expect(p.key == "retire/b9/3" && p.afterUser == "0001abff" && p.afterUserID == [0, 1, 0xab, 0xff])
        let record = try BatchRegistryTopic.record(p)
        #expect(try JSONDecoder().decode(BatchJobProgress.self, from: Data(record.value)) == p)
    }

    @Test func rateLimiterHandsOutAtMostItsRate() {
        var limiter = RateLimiter(perSecond: 100, now: 0)
        #expect(limiter.take(500, now: 0) == 100, "a full bucket holds one second")
        #expect(limiter.take(500, now: 0) == 0)
        #expect(limiter.take(500, now: 0.25) == 25)
        #expect(limiter.take(10, now: 10) == 10, "saved up tokens are capped at one second")
        #expect(limiter.take(500, now: 10) == 90)
        // Over a long run the total is the rate times the time (plus the first second's bucket).
        var total = 0
        for step in 1...1000 { total += limiter.take(7, now: 10 + Double(step) * 0.01) }
        #expect(total <= 1000 + 1 && total >= 990, "\(total)")
    }

    @Test func rateLimiterStepsWaitForATenthOfASecondsTokens() {
        var limiter = RateLimiter(perSecond: 5_000, now: 0)
        #expect(limiter.minimumStep == 500)
        let full = limiter.stepReady(now: 0)
        #expect(full, "a full bucket steps at once")
        let took = limiter.take(5_000, now: 0)
        #expect(took == 5_000)
        let few = limiter.stepReady(now: 0.05), fewWanted = limiter.stepReady(wanting: 200, now: 0.05)
        #expect(!few, "250 tokens are too few for a step")
        #expect(fewWanted, "a step that wants fewer than the minimum needs only those")
        let tenth = limiter.stepReady(now: 0.1)
        #expect(tenth)
        var slow = RateLimiter(perSecond: 3, now: 0)
        #expect(slow.minimumStep == 1)
        let slowTook = slow.take(3, now: 0)
        let early = slow.stepReady(now: 0.2), later = slow.stepReady(now: 0.34)
        #expect(slowTook == 3 && !early && later, "below ten a second, a step needs one token")
    }
}
