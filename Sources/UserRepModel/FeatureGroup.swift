// One named, contiguous slice of the encoder's input vector.

/// A slice of the input vector: what it holds (`kind`, `horizon`) and where (`offset`, `size`).
public struct FeatureGroup: Codable, Sendable, Equatable {
    /// Human-readable name, unique in a layout.
    public var name: String
    /// What the slice holds.
    public var kind: FeatureKind
    /// Horizon name (`1w`, `1m`, `6m`) for per-horizon kinds.
    public var horizon: String?
    /// First input index of the slice.
    public var offset: Int
    /// Number of inputs in the slice.
    public var size: Int
    /// Values used when the group has no data (no listens in the horizon, no onboarding, period
    /// over). Required for every imputable kind, so nothing is zero by accident.
    public var imputation: [Float]?
    /// For `imputed_indicators`: the names of the groups whose imputation it flags.
    public var covers: [String]?
    /// For a per-horizon embedding mean or device mix: the group of the same kind (a longer
    /// horizon) whose value stands in when this horizon has no listens, itself falling back in turn;
    /// the constant `imputation` applies only when no group of the chain has data.
    public var fallback: String?
    /// For a group with a `fallback`: how many listens the fallback's value weighs in this
    /// horizon's mean, `(sum + k · fallback) / (count + k)`, so a week of two listens is mostly the
    /// month and a week of two hundred mostly itself. Absent or 0: the horizon's own mean whenever
    /// it has listens.
    public var priorListens: Float?

    /// Creates a feature group.
    public init(
        name: String, kind: FeatureKind, horizon: String?, offset: Int, size: Int, imputation: [Float]? = nil, covers: [String]? = nil,
        fallback: String? = nil, priorListens: Float? = nil
    ) {
        self.name = name
        self.kind = kind
        self.horizon = horizon
        self.offset = offset
        self.size = size
        self.imputation = imputation
        self.covers = covers
        self.fallback = fallback
        self.priorListens = priorListens
    }
}
