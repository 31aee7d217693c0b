// What the model knows about a user besides their listening: sign-up, country, onboarding picks.

/// A user's context at compute time, in the words of the feature layout.
public struct UserContext: Sendable, Equatable {
    /// Sign-up (first onboarding event) time, nil when the user never onboarded.
    public var signupTimeMs: Int64?
    /// Country code, nil when unknown.
    public var country: [UInt8]?
    /// Languages picked at onboarding (empty: skipped or none picked).
    public var languages: [[UInt8]]
    /// Mean over the picked artists of each artist's mean track embedding (audio then
    /// collaborative), nil when no picked artist is known.
    public var artistEmbedding: [Float]?

    /// Creates a context.
    public init(signupTimeMs: Int64? = nil, country: [UInt8]? = nil, languages: [[UInt8]] = [], artistEmbedding: [Float]? = nil) {
        self.signupTimeMs = signupTimeMs
        self.country = country
        self.languages = languages
        self.artistEmbedding = artistEmbedding
    }

    /// A user about whom nothing but listening is known.
    public static let unknown = UserContext()
}
