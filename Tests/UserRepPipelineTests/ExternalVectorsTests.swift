// `evaluate --vectors`: user vectors made elsewhere, read from JSON lines into the evaluated
// users' row order, and every way such a file can be wrong.
import Foundation
import Testing
import UserRepPipeline

@Suite struct ExternalVectorsTests {
    static let users = ["u1", "u2", "u3"].map {
        EvaluatedUser(id: Array($0.utf8), country: nil, signupMs: nil, pickedArtists: [], pickedLanguages: [])
    }

    func read(_ text: String) throws -> Representation {
        try Representation.external(name: "mf", jsonLines: Data(text.utf8), source: "v.jsonl", users: Self.users)
    }

    func error(_ text: String) -> String {
        do {
            _ = try read(text)
            return "no error"
        } catch { return "\(error)" }
    }

    @Test func linesInAnyOrderLandInTheUsersRowsAndOtherUsersAreIgnored() throws {
        let r = try read(
            """
            {"user_id": "u3", "vector": [3, 30]}
            {"user_id": "u9", "vector": [9, 90]}

            {"user_id": "u1", "vector": [1.5, -10]}
            {"user_id": "u2", "vector": [2, 20]}
            """)
        #expect(r.name == "mf" && r.width == 2)
        #expect(r.vectors == [1.5, -10, 2, 20, 3, 30])
    }

    @Test func aMissingUserADuplicateAWidthChangeAnInfiniteValueOrABadLineIsAClearError() {
        #expect(
            error(#"{"user_id": "u2", "vector": [1]}"#) == "v.jsonl: no vector for 2 of the 3 evaluated users (u1, u3)")
        #expect(error("") == "v.jsonl: no vector for 3 of the 3 evaluated users (u1, u2, u3)")
        #expect(
            error(
                """
                {"user_id": "u1", "vector": [1]}
                {"user_id": "u1", "vector": [2]}
                """) == "v.jsonl:2: user u1 has a second vector")
        #expect(
            error(
                """
                {"user_id": "u1", "vector": [1, 2]}
                {"user_id": "u2", "vector": [3]}
                """) == "v.jsonl:2: user u2's vector has 1 values, the first line's 2")
        #expect(error(#"{"user_id": "u1", "vector": [1e39]}"#) == "v.jsonl:1: user u1's vector is not finite")
        for bad in [#"{"user_id": "u1"}"#, #"{"user_id": "u1", "vector": []}"#, #"{"user_id": 1, "vector": [1]}"#, "not json"] {
            #expect(error(bad) == #"v.jsonl:1: expected {"user_id": "…", "vector": [numbers]}"#, "\(bad)")
        }
    }
}
