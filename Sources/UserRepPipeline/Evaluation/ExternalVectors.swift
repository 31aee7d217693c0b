// User vectors from elsewhere (another team's model, a matrix factorization, a planted truth),
// scored beside the models and the baselines.
import Foundation

extension Representation {
    /// A representation read from JSON lines `{"user_id": "u1", "vector": [0.1, …]}`, put in the
    /// row order of `users`. Every evaluated user must have a vector, all of one width and finite;
    /// users the evaluation does not hold are ignored. `name` names it in the tables, `source` in errors.
    public static func external(name: String, jsonLines data: Data, source: String, users: [EvaluatedUser]) throws -> Representation {
        let rowOf = Dictionary(users.enumerated().map { (String(decoding: $0.element.id, as: UTF8.self), $0.offset) }) { a, _ in a }
        var width: Int?
        var vectors: [Float] = []
        var seen = [Bool](repeating: false, count: users.count)
        for (n, line) in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() {
            if line.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\r") || $0 == UInt8(ascii: "\t") }) { continue }
            guard let o = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any], let id = o["user_id"] as? String,
                let numbers = o["vector"] as? [NSNumber], !numbers.isEmpty
            else {
                throw WorkerError("\(source):\(n + 1): expected {\"user_id\": \"…\", \"vector\": [numbers]}")
            }
            let vector = numbers.map { Float(truncating: $0) }
            guard vector.allSatisfy(\.isFinite) else { throw WorkerError("\(source):\(n + 1): user \(id)'s vector is not finite") }
            if let w = width, w != vector.count {
                throw WorkerError("\(source):\(n + 1): user \(id)'s vector has \(vector.count) values, the first line's \(w)")
            }
            if width == nil {
                width = vector.count
                vectors = [Float](repeating: 0, count: users.count * vector.count)
            }
            guard let row = rowOf[id] else { continue }
            guard !seen[row] else { throw WorkerError("\(source):\(n + 1): user \(id) has a second vector") }
            seen[row] = true
            vectors.replaceSubrange((row * vector.count)..<((row + 1) * vector.count), with: vector)
        }
        let missing = users.indices.filter { !seen[$0] }
        guard missing.isEmpty, let width else {
            let ids = missing.prefix(3).map { String(decoding: users[$0].id, as: UTF8.self) }.joined(separator: ", ")
            throw WorkerError("\(source): no vector for \(missing.count) of the \(users.count) evaluated users (\(ids)\(missing.count > 3 ? ", …" : ""))")
        }
        return Representation(name: name, vectors: vectors, width: width)
    }
}
