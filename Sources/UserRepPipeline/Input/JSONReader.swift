// A strict, allocation-light JSON reader for the flat event records on the hot path.
import Foundation

/// Why a record's JSON could not be read; `offset` is the byte where reading stopped.
public struct JSONError: Error, Sendable, CustomStringConvertible {
    /// What was wrong.
    public let message: String
    /// Byte offset in the record.
    public let offset: Int
    public var description: String { "\(message) at byte \(offset)" }
}

/// Reads one JSON document from raw bytes without building a tree. Strings come back as byte
/// arrays, numbers as Double or Int64, and anything a handler does not ask for is skipped
/// (iteratively, so no nesting depth can exhaust the stack; only the record size bounds it).
struct JSONReader {
    let bytes: UnsafeRawBufferPointer
    var position = 0

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    func fail(_ message: String) -> JSONError { JSONError(message: message, offset: position) }

    var atEnd: Bool { position >= bytes.count }

    mutating func skipWhitespace() {
        while position < bytes.count {
            let c = bytes[position]
            guard c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 else { return }
            position += 1
        }
    }

    mutating func peek() throws -> UInt8 {
        skipWhitespace()
        guard position < bytes.count else { throw fail("unexpected end of input") }
        return bytes[position]
    }

    mutating func expect(_ c: UInt8) throws {
        guard try peek() == c else { throw fail("expected '\(Character(UnicodeScalar(c)))'") }
        position += 1
    }

    /// Requires that nothing but whitespace follows the document.
    mutating func expectEnd() throws {
        skipWhitespace()
        guard atEnd else { throw fail("unexpected data after the JSON value") }
    }

    /// Reads an object, calling `field` with each key; `field` must consume the value.
    /// Keys without escapes are passed in place, without copying.
    mutating func readObject(_ field: (_ key: UnsafeRawBufferPointer, _ reader: inout JSONReader) throws -> Void) throws {
        try expect(0x7B)
        if try peek() == 0x7D { position += 1; return }
        while true {
            if let key = try plainKey() {
                try expect(0x3A)
                try field(key, &self)
            } else {
                let key = try readString()
                try expect(0x3A)
                try key.withUnsafeBytes { try field($0, &self) }
            }
            let c = try peek()
            position += 1
            if c == 0x2C { continue }
            if c == 0x7D { return }
            position -= 1
            throw fail("expected ',' or '}'")
        }
    }

    /// A key with no escapes, viewed in place; nil (position unchanged) when it has escapes.
    private mutating func plainKey() throws -> UnsafeRawBufferPointer? {
        guard try peek() == 0x22 else { throw fail("expected a string key") }
        var i = position + 1
        while i < bytes.count {
            let c = bytes[i]
            if c == 0x22 {
                let key = UnsafeRawBufferPointer(rebasing: bytes[(position + 1)..<i])
                position = i + 1
                return key
            }
            if c == 0x5C || c < 0x20 || c >= 0x80 { return nil }
            i += 1
        }
        throw fail("unterminated string")
    }

    /// Whether the next value is `null` (consuming it if so).
    mutating func readNullIfPresent() throws -> Bool {
        guard try peek() == 0x6E else { return false }
        try literal("null")
        return true
    }

    /// Reads a string value, resolving escapes; rejects invalid UTF-8 and control characters.
    mutating func readString(maxBytes: Int = 1 << 20) throws -> [UInt8] {
        guard try peek() == 0x22 else { throw fail("expected a string") }
        position += 1
        let start = position
        // Fast path: no escapes.
        while position < bytes.count {
            let c = bytes[position]
            if c == 0x22 {
                let slice = UnsafeRawBufferPointer(rebasing: bytes[start..<position])
                position += 1
                guard slice.count <= maxBytes else { throw fail("string longer than \(maxBytes) bytes") }
                guard String(validating: slice, as: UTF8.self) != nil else { throw fail("string is not valid UTF-8") }
                return Array(slice)
            }
            if c == 0x5C { break }
            if c < 0x20 { throw fail("control character in string") }
            position += 1
        }
        position = start
        var out: [UInt8] = []
        while position < bytes.count {
            let c = bytes[position]
            position += 1
            switch c {
            case 0x22:
                guard out.count <= maxBytes else { throw fail("string longer than \(maxBytes) bytes") }
                guard String(validating: out, as: UTF8.self) != nil else { throw fail("string is not valid UTF-8") }
                return out
            case 0x5C:
                guard position < bytes.count else { throw fail("unterminated escape") }
                let e = bytes[position]
                position += 1
                switch e {
                case 0x22, 0x5C, 0x2F: out.append(e)
                case 0x62: out.append(0x08)
                case 0x66: out.append(0x0C)
                case 0x6E: out.append(0x0A)
                case 0x72: out.append(0x0D)
                case 0x74: out.append(0x09)
                case 0x75:
                    var scalar = try hex4()
                    if (0xD800..<0xDC00).contains(scalar) {
                        guard position + 1 < bytes.count, bytes[position] == 0x5C, bytes[position + 1] == 0x75 else {
                            throw fail("unpaired surrogate")
                        }
                        position += 2
                        let low = try hex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw fail("invalid surrogate pair") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard let u = UnicodeScalar(scalar) else { throw fail("invalid unicode escape") }
                    out.append(contentsOf: Array(String(Character(u)).utf8))
                default: throw fail("invalid escape")
                }
            default:
                if c < 0x20 { throw fail("control character in string") }
                out.append(c)
            }
        }
        throw fail("unterminated string")
    }

    private mutating func hex4() throws -> UInt32 {
        guard position + 4 <= bytes.count else { throw fail("truncated unicode escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[position]
            position += 1
            let d: UInt32
            switch c {
            case 0x30...0x39: d = UInt32(c - 0x30)
            case 0x41...0x46: d = UInt32(c - 0x41 + 10)
            case 0x61...0x66: d = UInt32(c - 0x61 + 10)
            default: throw fail("invalid hex digit in unicode escape")
            }
            v = v << 4 | d
        }
        return v
    }

    /// Reads a number as Double; rejects anything JSON does not allow (NaN, Infinity, hex, +1).
    mutating func readNumber() throws -> Double {
        let start = try numberExtent()
        let length = position - start
        return try withUnsafeTemporaryAllocation(of: CChar.self, capacity: length + 1) { buf in
            for i in 0..<length { buf[i] = CChar(bitPattern: bytes[start + i]) }
            buf[length] = 0
            guard let base = buf.baseAddress else { throw fail("number buffer") }
            let v = strtod(base, nil)
            guard v.isFinite else { throw fail("number out of range") }
            return v
        }
    }

    /// Reads an integer that fits in Int64 exactly. An integral value written with a fraction or
    /// an exponent (`1.78e12`, `5.0`) is an integer too, as in JSON Schema, up to 2^53 in size
    /// (beyond that a double cannot hold it exactly); `1.5` is not.
    mutating func readInt64() throws -> Int64 {
        let start = try numberExtent()
        if (start..<position).contains(where: { bytes[$0] == 0x2E || bytes[$0] == 0x65 || bytes[$0] == 0x45 }) {
            let end = position
            position = start
            let v = try readNumber()
            guard v == v.rounded(), abs(v) <= 9_007_199_254_740_992 else {
                position = start
                throw fail(v == v.rounded() ? "integer out of range" : "expected an integer")
            }
            position = end
            return Int64(v)
        }
        var i = start
        var negative = false
        if bytes[i] == 0x2D { negative = true; i += 1 }
        var v: Int64 = 0
        while i < position {
            let c = bytes[i]
            guard c >= 0x30 && c <= 0x39 else {
                position = start
                throw fail("expected an integer")
            }
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(Int64(c - 0x30))
            guard !o1 && !o2 else { position = start; throw fail("integer out of range") }
            v = a
            i += 1
        }
        return negative ? -v : v
    }

    /// Validates JSON number syntax and returns its start; leaves `position` after it.
    private mutating func numberExtent() throws -> Int {
        skipWhitespace()
        let start = position
        if position < bytes.count && bytes[position] == 0x2D { position += 1 }
        guard position < bytes.count, isDigit(bytes[position]) else {
            position = start
            throw fail("expected a number")
        }
        if bytes[position] == 0x30 {
            position += 1
        } else {
            while position < bytes.count && isDigit(bytes[position]) { position += 1 }
        }
        if position < bytes.count && bytes[position] == 0x2E {
            position += 1
            guard position < bytes.count, isDigit(bytes[position]) else { throw fail("digit expected after '.'") }
            while position < bytes.count && isDigit(bytes[position]) { position += 1 }
        }
        if position < bytes.count && (bytes[position] == 0x65 || bytes[position] == 0x45) {
            position += 1
            if position < bytes.count && (bytes[position] == 0x2B || bytes[position] == 0x2D) { position += 1 }
            guard position < bytes.count, isDigit(bytes[position]) else { throw fail("digit expected in exponent") }
            while position < bytes.count && isDigit(bytes[position]) { position += 1 }
        }
        guard position - start <= 64 else { throw fail("number too long") }
        return start
    }

    private func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }

    /// Reads an array, calling `element` once per element (which must consume it); refuses more
    /// than `maxCount` elements.
    mutating func readArray(maxCount: Int, _ element: (inout JSONReader) throws -> Void) throws {
        try expect(0x5B)
        if try peek() == 0x5D { position += 1; return }
        var count = 0
        while true {
            guard count < maxCount else { throw fail("array longer than \(maxCount) elements") }
            try element(&self)
            count += 1
            let c = try peek()
            position += 1
            if c == 0x2C { continue }
            if c == 0x5D { return }
            position -= 1
            throw fail("expected ',' or ']'")
        }
    }

    /// Reads an array of numbers into `out` (cleared), refusing more than `maxCount`.
    mutating func readFloatArray(maxCount: Int, into out: inout [Float]) throws {
        out.removeAll(keepingCapacity: true)
        var values = out
        defer { out = values }
        try readArray(maxCount: maxCount) { r in
            let f = Float(try r.readNumber())
            guard f.isFinite else { throw r.fail("number out of 32-bit float range") }
            values.append(f)
        }
    }

    /// Reads an array of strings, refusing more than `maxCount`.
    mutating func readStringArray(maxCount: Int, maxBytes: Int) throws -> [[UInt8]] {
        var out: [[UInt8]] = []
        try readArray(maxCount: maxCount) { r in out.append(try r.readString(maxBytes: maxBytes)) }
        return out
    }

    /// Skips any value, checking its syntax but not its range (an unknown field may hold `1e400`)
    /// and keeping its open containers on the heap, so any nesting within the record size is fine.
    mutating func skipValue() throws {
        var open: [UInt8] = []  // `{` or `[` per enclosing container
        while true {
            switch try peek() {
            case 0x7B:
                position += 1
                if try peek() == 0x7D {
                    position += 1
                } else {
                    open.append(0x7B)
                    try skipKey()
                    continue
                }
            case 0x5B:
                position += 1
                if try peek() == 0x5D {
                    position += 1
                } else {
                    open.append(0x5B)
                    continue
                }
            case 0x22: _ = try readString()
            case 0x74: try literal("true")
            case 0x66: try literal("false")
            case 0x6E: try literal("null")
            default: _ = try numberExtent()
            }
            // A value ended: close containers until one continues with another element.
            while let top = open.last {
                let c = try peek()
                position += 1
                if c == 0x2C {
                    if top == 0x7B { try skipKey() }
                    break
                }
                if c == (top == 0x7B ? 0x7D : 0x5D) {
                    open.removeLast()
                    continue
                }
                position -= 1
                throw fail(top == 0x7B ? "expected ',' or '}'" : "expected ',' or ']'")
            }
            if open.isEmpty { return }
        }
    }

    /// Skips an object key and its colon.
    private mutating func skipKey() throws {
        guard try peek() == 0x22 else { throw fail("expected a string key") }
        _ = try readString()
        try expect(0x3A)
    }

    /// The first syntax error of a whole document, nil if it is well-formed JSON (of any type).
    static func syntaxError(_ bytes: UnsafeRawBufferPointer) -> JSONError? {
        var reader = JSONReader(bytes)
        reader.skipByteOrderMark()
        do {
            try reader.skipValue()
            try reader.expectEnd()
            return nil
        } catch let error as JSONError {
            return error
        } catch {
            return JSONError(message: String(describing: error), offset: reader.position)
        }
    }

    /// Steps over a UTF-8 byte-order mark at the start, which RFC 8259 lets parsers ignore.
    mutating func skipByteOrderMark() {
        if position == 0, bytes.count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF { position = 3 }
    }

    private mutating func literal(_ word: StaticString) throws {
        let n = word.utf8CodeUnitCount
        guard position + n <= bytes.count else { throw fail("unexpected end of input") }
        let matches = word.withUTF8Buffer { w in (0..<n).allSatisfy { bytes[position + $0] == w[$0] } }
        guard matches else { throw fail("invalid literal") }
        position += n
    }
}

extension JSONReader {
    /// `readRecord(_:field:read:)` for records whose known fields are named by their JSON keys.
    static func readRecord(
        _ bytes: UnsafeRawBufferPointer, fields: Set<String>, read: (String, inout JSONReader) throws -> Void
    ) throws(InputRejection) {
        try readRecord(
            bytes,
            field: { key in
                let name = String(decoding: key, as: UTF8.self)
                return fields.contains(name) ? name : nil
            }, read: read)
    }

    /// Reads one record that must be a JSON object. `field` names the known field a key stands
    /// for (nil: skip its value); `read` then reads that field's value. A document that is not
    /// well-formed JSON is `malformed-json` (wherever the error is: truncated, a trailing comma);
    /// a well-formed one whose known field has the wrong type or range is `invalid-field` naming
    /// it. A leading UTF-8 byte-order mark is ignored.
    static func readRecord(
        _ bytes: UnsafeRawBufferPointer, field: (UnsafeRawBufferPointer) -> String?, read: (String, inout JSONReader) throws -> Void
    ) throws(InputRejection) {
        var reader = JSONReader(bytes)
        reader.skipByteOrderMark()
        var current: String?
        do {
            guard try reader.peek() == 0x7B else { throw InputRejection(.malformedJSON, "value is not a JSON object") }
            try reader.readObject { key, r in
                current = field(key)
                if let name = current { try read(name, &r) } else { try r.skipValue() }
            }
            current = nil
            try reader.expectEnd()
        } catch {
            if let syntax = syntaxError(bytes) { throw InputRejection(.malformedJSON, syntax.description) }
            try classify(error, field: current)
        }
    }

    /// The rejection for a failure in a well-formed record.
    private static func classify(_ error: Error, field current: String?) throws(InputRejection) {
        switch error {
        case let rejection as InputRejection:
            throw rejection
        case let error as JSONError:
            throw current.map { InputRejection(.invalidField, "\($0): \(error.description)") }
                ?? InputRejection(.malformedJSON, error.description)
        default:
            throw InputRejection(.malformedJSON, String(describing: error))
        }
    }
}
