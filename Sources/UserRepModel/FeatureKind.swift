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

    /// Share of the horizon's listens per device class (size = `DeviceClass.all.count`).
    public static let deviceMix = FeatureKind(rawValue: "device_mix")
    /// One-hot of the user's country over the manifest's `countries`, plus a last slot for any
    /// other country (size = countries + 1).
    public static let country = FeatureKind(rawValue: "country")
    /// `log1p` of days from sign-up to compute time (size 1).
    public static let accountAgeLog1pDays = FeatureKind(rawValue: "account_age_log1p_days")
    /// Multi-hot of onboarding languages over the manifest's `languages` (size = languages).
    public static let onboardingLanguages = FeatureKind(rawValue: "onboarding_languages")
    /// Mean audio embedding of the artists picked at onboarding (size = audio dims).
    public static let onboardingArtistAudio = FeatureKind(rawValue: "onboarding_artist_audio_mean")
    /// Mean collaborative embedding of the artists picked at onboarding (size = collaborative dims).
    public static let onboardingArtistCollaborative = FeatureKind(rawValue: "onboarding_artist_collaborative_mean")
    /// 1 where the group named in `covers` was imputed, else 0 (size = covers).
    public static let imputedIndicators = FeatureKind(rawValue: "imputed_indicators")

    /// Kinds this build knows how to compute.
    public static let known: [FeatureKind] = [
        .playCountLog1p, .audioMean, .collaborativeMean, .deviceMix, .country, .accountAgeLog1pDays,
        .onboardingLanguages, .onboardingArtistAudio, .onboardingArtistCollaborative, .imputedIndicators,
    ]

    /// Kinds computed per horizon.
    public static let perHorizon: Set<FeatureKind> = [.playCountLog1p, .audioMean, .collaborativeMean, .deviceMix]

    /// Kinds that can lack data and so must carry imputation values in the manifest.
    public static let imputable: Set<FeatureKind> = [
        .audioMean, .collaborativeMean, .deviceMix, .country, .accountAgeLog1pDays,
        .onboardingLanguages, .onboardingArtistAudio, .onboardingArtistCollaborative,
    ]

    public init(from decoder: Decoder) throws {
        rawValue = try decoder.singleValueContainer().decode(String.self)
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}
