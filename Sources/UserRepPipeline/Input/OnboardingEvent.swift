// An onboarding event from the `onboarding` topic (schemas/onboarding.schema.json) and its parser.

/// A user signing up, with the artists and languages they picked (both empty if they skipped).
public struct OnboardingEvent: Sendable, Equatable {
    /// User id (UTF-8).
    public var userID: [UInt8]
    /// Sign-up time, ms since the Unix epoch.
    public var timestampMs: Int64
    /// Picked artist ids.
    public var artistIDs: [[UInt8]]
    /// Picked languages.
    public var languages: [[UInt8]]
    /// ISO country code, if known.
    public var country: [UInt8]?

    /// Creates an event.
    public init(userID: [UInt8], timestampMs: Int64, artistIDs: [[UInt8]], languages: [[UInt8]], country: [UInt8]? = nil) {
        self.userID = userID
        self.timestampMs = timestampMs
        self.artistIDs = artistIDs
        self.languages = languages
        self.country = country
    }

    /// Most artists or languages accepted in one event.
    public static let maxPicks = 100

    /// Parses and validates one record value. Unknown fields are ignored.
    public static func parse(_ bytes: UnsafeRawBufferPointer) throws(InputRejection) -> OnboardingEvent {
        var user: [UInt8]?, time: Int64?, artists: [[UInt8]]?, languages: [[UInt8]]?, country: [UInt8]?
        let known: Set<String> = ["user_id", "timestamp_ms", "artist_ids", "languages", "country"]
        try JSONReader.readRecord(
            bytes, fields: known,
            read: { name, r in
                switch name {
                case "user_id": user = try r.readString(maxBytes: ListenEvent.maxIDBytes)
                case "timestamp_ms": time = try r.readInt64()
                case "artist_ids": artists = try r.readStringArray(maxCount: maxPicks, maxBytes: ListenEvent.maxIDBytes)
                case "languages": languages = try r.readStringArray(maxCount: maxPicks, maxBytes: 32)
                default: country = try r.readNullIfPresent() ? nil : try r.readString(maxBytes: 16)
                }
            })
        guard let user, !user.isEmpty else { throw InputRejection(.missingField, "user_id is required") }
        guard let time else { throw InputRejection(.missingField, "timestamp_ms is required") }
        guard time >= ListenEvent.minTimestampMs && time <= ListenEvent.maxTimestampMs else {
            throw InputRejection(.invalidField, "timestamp_ms \(time) is outside 2000-01-01..2100-01-01")
        }
        guard let artists else { throw InputRejection(.missingField, "artist_ids is required (empty when skipped)") }
        guard let languages else { throw InputRejection(.missingField, "languages is required (empty when skipped)") }
        return OnboardingEvent(userID: user, timestampMs: time, artistIDs: artists, languages: languages, country: country)
    }

    /// Serializes the event as schema JSON.
    public func json() -> [UInt8] {
        func list(_ items: [[UInt8]]) -> String { "[" + items.map { JSONText.quote($0) }.joined(separator: ",") + "]" }
        var s =
            "{\"user_id\":\(JSONText.quote(userID)),\"timestamp_ms\":\(timestampMs),\"artist_ids\":\(list(artistIDs)),\"languages\":\(list(languages))"
        if let country { s += ",\"country\":\(JSONText.quote(country))" }
        return Array((s + "}").utf8)
    }
}
