// The JSON output format against its contract: schemas/user-representation.schema.json names the
// fields the encoder writes, the proto's fields, and every trigger.
import Foundation
import Testing
import UserRepPipeline

@Suite struct OutputContractTests {
    static let schemas = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("schemas")

    @Test func theJSONRecordHasExactlyTheSchemasFieldsWhichAreTheProtosFields() throws {
        let schema = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: Self.schemas.appendingPathComponent("user-representation.schema.json")))
                as? [String: Any])
        let properties = try #require(schema["properties"] as? [String: Any])
        let required = try #require(schema["required"] as? [String])
        let triggers = try #require((properties["trigger"] as? [String: Any])?["enum"] as? [String])
        #expect(Set(required) == Set(properties.keys), "every field is always written")
        #expect(Set(triggers) == Set(RepresentationTrigger.allCases.map(\.rawValue)))
        for trigger in RepresentationTrigger.allCases {
            let record = RepresentationRecord(
                userID: "u1", batchID: "b1", embeddingBatchID: "e1", vector: [0.5, -1], eventTimeMs: 1_780_000_000_000,
                computeTimeMs: 1_780_000_000_001, updateSequence: 3, trigger: trigger)
            let object = try #require(try JSONSerialization.jsonObject(with: Data(try record.encoded(.json))) as? [String: Any])
            #expect(Set(object.keys) == Set(properties.keys))
            #expect(object["trigger"] as? String == trigger.rawValue)
        }
        // The proto's message fields carry the same names.
        let proto = try String(contentsOf: Self.schemas.appendingPathComponent("user_representation.proto"), encoding: .utf8)
        let message = try #require(proto.range(of: "message UserRepresentation {")).upperBound
        let body = proto[message...].prefix { $0 != "}" }
        let names = body.split(separator: "\n").compactMap { line -> String? in
            let words = line.split(separator: " ").filter { !$0.isEmpty }
            guard line.contains("="), !line.trimmingCharacters(in: .whitespaces).hasPrefix("//"), words.count >= 4 else { return nil }
            return String(words[words.count - 3])
        }
        #expect(Set(names) == Set(properties.keys), "proto fields \(names)")
    }
}
