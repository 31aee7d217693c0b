// `tracks build`: co-occurrence only from listens up to the cut-off, content in the audio slot.
import Testing
import UserRepModel
@testable import UserRepPipeline

@Suite struct TrackCatalogueBuilderTests {
    func listen(_ user: String, _ track: String, _ t: Int64) -> ListenEvent {
        ListenEvent(userID: Array(user.utf8), trackID: Array(track.utf8), timestampMs: t)
    }

    @Test func onlyListensUpToTheCutOffShapeTheCollaborativeHalf() throws {
        var listens: [ListenEvent] = []
        for u in 0..<30 {
            let group = u % 2 == 0 ? ["a", "b"] : ["c", "d"]
            for (k, t) in group.enumerated() { listens.append(listen("u\(u)", t, Int64(1000 + u * 10 + k))) }
        }
        listens.append(listen("u0", "late", 9_999))
        let builder = TrackCatalogueBuilder(dims: .init(audio: 3, collaborative: 2), batchID: "b")
        let content: [[UInt8]: TrackCatalogueBuilder.Content] = [Array("a".utf8): .init(artistID: Array("x".utf8), vector: [1, 2, 3, 4])]
        let records = try builder.build(listens: listens, untilMs: 5_000, content: content)
        #expect(records.map { String(decoding: $0.trackID, as: UTF8.self) } == ["a", "b", "c", "d", "late"])
        let late = try #require(records.last)
        #expect(late.collaborative == [0, 0], "a track first played after the cut-off has no co-occurrence")
        #expect(records[0].audio == [1, 2, 3] && records[0].artistID == Array("x".utf8), "content cut to the audio width, its artist kept")
        #expect(records[1].audio == [0, 0, 0] && records[1].artistID == Array("b".utf8), "no content: zeros, the track as its artist")
        func cos(_ x: [Float], _ y: [Float]) -> Float {
            zip(x, y).map(*).reduce(0, +) / ((x.map { $0 * $0 }.reduce(0, +) * y.map { $0 * $0 }.reduce(0, +)).squareRoot())
        }
        #expect(cos(records[0].collaborative, records[1].collaborative) > cos(records[0].collaborative, records[2].collaborative))
        let all = try builder.build(listens: listens, untilMs: nil, content: [:])
        #expect(all.last?.collaborative != [0, 0], "without a cut-off the late listen counts")
    }
}
