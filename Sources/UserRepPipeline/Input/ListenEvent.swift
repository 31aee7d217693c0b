// A listen event from the `listens` topic (schemas/listens.schema.json) and its validating parser.

/// One play of one track by one user.
public struct ListenEvent: Sendable, Equatable {
    /// User id (UTF-8).
    public var userID: [UInt8]
    /// Track id (UTF-8).
    public var trackID: [UInt8]
    /// Event time, ms since the Unix epoch.
    public var timestampMs: Int64
    /// How long the track played, if known.
    public var msPlayed: Int64?
    /// ISO country code, if known.
    public var country: [UInt8]?
    /// Device class, if known.
    public var device: [UInt8]?

    /// Creates a listen.
    public init(
        userID: [UInt8], trackID: [UInt8], timestampMs: Int64, msPlayed: Int64? = nil, country: [UInt8]? = nil, device: [UInt8]? = nil
    ) {
        self.userID = userID
        self.trackID = trackID
        self.timestampMs = timestampMs
        self.msPlayed = msPlayed
        self.country = country
        self.device = device
    }

    /// Earliest accepted event time (2000-01-01T00:00:00Z).
    public static let minTimestampMs: Int64 = 946_684_800_000
    /// Latest accepted event time (2100-01-01T00:00:00Z).
    public static let maxTimestampMs: Int64 = 4_102_444_800_000
    /// Longest accepted id, in bytes.
    public static let maxIDBytes = 256

    /// Parses and validates one record value. Unknown fields are ignored (forward compatibility).
    public static func parse(_ bytes: UnsafeRawBufferPointer) throws(InputRejection) -> ListenEvent {
        var user: [UInt8]?, track: [UInt8]?, time: Int64?
        var event = ListenEvent(userID: [], trackID: [], timestampMs: 0)
        try JSONReader.readRecord(
            bytes,
            field: { key in
                if key.elementsEqual(Keys.userID) { return "user_id" }
                if key.elementsEqual(Keys.trackID) { return "track_id" }
                if key.elementsEqual(Keys.timestamp) { return "timestamp_ms" }
                if key.elementsEqual(Keys.msPlayed) { return "ms_played" }
                if key.elementsEqual(Keys.country) { return "country" }
                if key.elementsEqual(Keys.device) { return "device" }
                return nil
            },
            read: { name, r in
                switch name {
                case "user_id": user = try r.readString(maxBytes: maxIDBytes)
                case "track_id": track = try r.readString(maxBytes: maxIDBytes)
                case "timestamp_ms": time = try r.readInt64()
                case "ms_played": event.msPlayed = try r.readNullIfPresent() ? nil : try r.readInt64()
                case "country": event.country = try r.readNullIfPresent() ? nil : try r.readString(maxBytes: 16)
                default: event.device = try r.readNullIfPresent() ? nil : try r.readString(maxBytes: 64)
                }
            })
        guard let user else { throw InputRejection(.missingField, "user_id is required") }
        guard let track else { throw InputRejection(.missingField, "track_id is required") }
        guard let time else { throw InputRejection(.missingField, "timestamp_ms is required") }
        guard !user.isEmpty else { throw InputRejection(.invalidField, "user_id must not be empty") }
        guard !track.isEmpty else { throw InputRejection(.invalidField, "track_id must not be empty") }
        guard time >= minTimestampMs && time <= maxTimestampMs else {
            throw InputRejection(.invalidField, "timestamp_ms \(time) is outside 2000-01-01..2100-01-01")
        }
        if let played = event.msPlayed, played < 0 {
            throw InputRejection(.invalidField, "ms_played must not be negative")
        }
        event.userID = user
        event.trackID = track
        event.timestampMs = time
        return event
    }

    /// Serializes the listen as schema JSON (used by the generator and tests).
    public func json() -> [UInt8] {
        var s = "{\"user_id\":\(JSONText.quote(userID)),\"track_id\":\(JSONText.quote(trackID)),\"timestamp_ms\":\(timestampMs)"
        if let msPlayed { s += ",\"ms_played\":\(msPlayed)" }
        if let country { s += ",\"country\":\(JSONText.quote(country))" }
        if let device { s += ",\"device\":\(JSONText.quote(device))" }
        s += "}"
        return Array(s.utf8)
    }

    private enum Keys {
        static let userID = Array("user_id".utf8)
        static let trackID = Array("track_id".utf8)
        static let timestamp = Array("timestamp_ms".utf8)
        static let msPlayed = Array("ms_played".utf8)
        static let country = Array("country".utf8)
        static let device = Array("device".utf8)
    }
}

/// Helpers to write JSON text.
public enum JSONText {
    /// A JSON string literal for UTF-8 bytes.
    public static func quote(_ bytes: [UInt8]) -> String { quote(String(decoding: bytes, as: UTF8.self)) }

    /// A JSON string literal.
    public static func quote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 { out += String(format: "\\u%04x", u.value) } else { out.unicodeScalars.append(u) }
            }
        }
        return out + "\""
    }
}

import Foundation
