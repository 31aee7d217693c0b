// A record header.

/// One record header: a name and raw bytes.
public struct KafkaHeader: Sendable, Hashable {
    /// Header name.
    public let name: String
    /// Header value bytes.
    public let value: [UInt8]

    /// Creates a header from bytes.
    public init(name: String, value: [UInt8]) {
        self.name = name
        self.value = value
    }

    /// Creates a header from a UTF-8 string.
    public init(name: String, string: String) {
        self.init(name: name, value: Array(string.utf8))
    }

    /// The value as UTF-8 text.
    public var stringValue: String { String(decoding: value, as: UTF8.self) }
}
