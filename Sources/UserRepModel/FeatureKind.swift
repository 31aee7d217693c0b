// The kinds of feature group an input layout can contain.

/// What a feature group holds. An extensible set: new kinds are added as the model grows.
public struct FeatureKind: RawRepresentable, Codable, Sendable, Hashable {
    /// The kind's name in manifests.
    public let rawValue: String

    /// Creates a kind from its manifest name.
    public init(rawValue: String) { self.rawValue = rawValue }

    /// `log1p` of the play count in one horizon (size 1).
    public static let playCountLog1p = FeatureKind(rawValue: "play_count_log1p")
    /// Mean audio embedding of the listens in one horizon (size = audio dims).
    public static let audioMean = FeatureKind(rawValue: "audio_mean")
    /// Mean collaborative embedding of the listens in one horizon (size = collaborative dims).
    public static let collaborativeMean = FeatureKind(rawValue: "collaborative_mean")

    /// Kinds this build knows how to compute.
    public static let known: [FeatureKind] = [.playCountLog1p, .audioMean, .collaborativeMean]

    public init(from decoder: Decoder) throws {
        rawValue = try decoder.singleValueContainer().decode(String.self)
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}
