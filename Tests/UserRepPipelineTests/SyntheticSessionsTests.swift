// The synthetic world's timeline in sessions: what `events generate --session-length` writes.
import Testing
import UserRepModel
import UserRepPipeline
import UserRepTesting

@Suite struct SyntheticSessionsTests {
    func timeline(sessionLength: Int) -> [ListenEvent] {
        var settings = SyntheticGenerator.Settings(users: 200, tracks: 100)
        settings.seed = 5
        return SyntheticEvents.generate(settings: settings, listens: 1_003, firstSession: 0, sessionLength: sessionLength).listens
    }

    /// With sessions of 5, each run of 5 consecutive listens (the last one 3) is one user's, in
    /// time order; with 1, the user is drawn anew for every listen, so most runs mix users.
    @Test func aSessionIsConsecutiveListensOfOneUser() {
        let sessions = timeline(sessionLength: 5)
        #expect(sessions.count == 1_003)
        #expect(zip(sessions, sessions.dropFirst()).allSatisfy { $0.timestampMs <= $1.timestampMs })
        let runs = stride(from: 0, to: sessions.count, by: 5).map { Set(sessions[$0..<min($0 + 5, sessions.count)].map(\.userID)) }
        #expect(runs.allSatisfy { $0.count == 1 })
        let drawn = timeline(sessionLength: 1)
        let mixed = stride(from: 0, to: drawn.count, by: 5).filter { Set(drawn[$0..<min($0 + 5, drawn.count)].map(\.userID)).count > 1 }
        #expect(mixed.count > 150, "\(mixed.count) of 201 runs mix users")
    }
}
