// The JSON manifest that ships beside a model's safetensors weights.
import Foundation

/// Describes one trained encoder: its batch, the embedding batch it was trained on, its layers,
/// its feature layout and its normalization. Stored as JSON with snake_case keys.
public struct ModelManifest: Codable, Sendable, Equatable {
    /// Manifest format version; this build reads version 1.
    public var formatVersion: Int
    /// Batch id stamped on every vector this model produces.
    public var batchId: String
    /// Track-embedding batch the model was trained on; only tracks of this batch feed it.
    public var embeddingBatchId: String
    /// Dimensions of the track embeddings.
    public var embeddingDims: EmbeddingDims
    /// Layer sizes from input to output, e.g. `[483, 512, 256, 120]`.
    public var layers: [Int]
    /// Activation after every hidden layer (`selu`, `relu`, `tanh`, `linear`).
    public var activation: String
    /// Activation after the output layer; `linear` when absent.
    public var outputActivation: String?
    /// Weights file, relative to the manifest.
    public var weights: String
    /// Where each feature group sits in the input vector.
    public var features: [FeatureGroup]
    /// Names of the input mean and standard-deviation tensors, when inputs are standardized.
    public var normalization: Normalization?
    /// Country vocabulary of the `country` group (ISO codes); other countries share a last slot.
    public var countries: [String]?
    /// Language vocabulary of the `onboarding_languages` group.
    public var languages: [String]?
    /// Days after sign-up during which onboarding picks are used; 90 when absent.
    public var onboardingPeriodDays: Int?
    /// How the weights were trained (`userrep train`); absent for random or imported models.
    public var training: TrainingInfo?
    /// The weight and bias tensor of each layer, for weights saved under other names (e.g. a
    /// PyTorch `nn.Sequential` as `layers.0.weight`, `layers.2.weight`, …); absent: `encoder.{i}.weight`.
    public var tensors: [LayerTensors]?

    /// The tensor names of one dense layer.
    public struct LayerTensors: Codable, Sendable, Equatable {
        /// Weight tensor, `[out, in]`.
        public var weight: String
        /// Bias tensor, `[out]`.
        public var bias: String

        /// Names one layer's tensors.
        public init(weight: String, bias: String) {
            self.weight = weight
            self.bias = bias
        }
    }

    /// The weight tensor name of layer `index` under this manifest (its `tensors`, else the default).
    public func weightTensorName(_ index: Int) -> String {
        tensors.flatMap { index < $0.count ? $0[index].weight : nil } ?? Self.weightTensor(index)
    }

    /// The bias tensor name of layer `index` under this manifest.
    public func biasTensorName(_ index: Int) -> String {
        tensors.flatMap { index < $0.count ? $0[index].bias : nil } ?? Self.biasTensor(index)
    }

    /// A record of a training run, shown by `userrep model inspect`.
    public struct TrainingInfo: Codable, Sendable, Equatable {
        /// Rows trained on and held out for validation.
        public var trainRows: Int, validationRows: Int
        /// Epochs run, and the epoch whose weights were kept.
        public var epochs: Int, bestEpoch: Int
        /// Losses of the kept epoch (validation nil without a split).
        public var trainLoss: Double, validationLoss: Double?
        /// The loss (`l2` is the paper's equation 2, `mse`).
        public var loss: String
        /// Optimizer settings.
        public var learningRate: Double, batchSize: Int, dropout: Double, seed: UInt64
        /// Masking noise on the input (`train --input-dropout`); nil (absent) is none.
        public var inputDropout: Double?
        /// Decoder widths (code first) and its weights file, for reconstruction checks.
        public var decoderLayers: [Int], decoderWeights: String
        /// The features file the model was trained on, and its export time (`as_of_ms` or `newest-event`).
        public var features: String, featuresAsOf: String

        /// Creates a training record.
        public init(trainRows: Int, validationRows: Int, epochs: Int, bestEpoch: Int, trainLoss: Double, validationLoss: Double?, loss: String,
                    learningRate: Double, batchSize: Int, dropout: Double, seed: UInt64, inputDropout: Double? = nil,
                    decoderLayers: [Int], decoderWeights: String, features: String, featuresAsOf: String) {
            self.trainRows = trainRows
            self.validationRows = validationRows
            self.epochs = epochs
            self.bestEpoch = bestEpoch
            self.trainLoss = trainLoss
            self.validationLoss = validationLoss
            self.loss = loss
            self.learningRate = learningRate
            self.batchSize = batchSize
            self.dropout = dropout
            self.seed = seed
            self.inputDropout = inputDropout
            self.decoderLayers = decoderLayers
            self.decoderWeights = decoderWeights
            self.features = features
            self.featuresAsOf = featuresAsOf
        }
    }

    /// The onboarding period in milliseconds.
    public var onboardingPeriodMs: Int64 { Int64(onboardingPeriodDays ?? 90) * Horizon.dayMs }

    /// Embedding dimensions of one track.
    public struct EmbeddingDims: Codable, Sendable, Equatable {
        /// Audio embedding floats per track.
        public var audio: Int
        /// Collaborative embedding floats per track.
        public var collaborative: Int

        /// Creates embedding dimensions.
        public init(audio: Int, collaborative: Int) {
            self.audio = audio
            self.collaborative = collaborative
        }
    }

    /// Tensor names of the input standardization: `x' = (x - mean) / std`.
    public struct Normalization: Codable, Sendable, Equatable {
        /// Tensor of input means, one per input feature.
        public var mean: String
        /// Tensor of input standard deviations, one per input feature.
        public var std: String

        /// Creates a normalization reference.
        public init(mean: String, std: String) {
            self.mean = mean
            self.std = std
        }
    }

    /// Creates a manifest.
    public init(
        formatVersion: Int = 1, batchId: String, embeddingBatchId: String, embeddingDims: EmbeddingDims,
        layers: [Int], activation: String, outputActivation: String? = nil, weights: String,
        features: [FeatureGroup], normalization: Normalization?,
        countries: [String]? = nil, languages: [String]? = nil, onboardingPeriodDays: Int? = nil, tensors: [LayerTensors]? = nil
    ) {
        self.tensors = tensors
        self.countries = countries
        self.languages = languages
        self.onboardingPeriodDays = onboardingPeriodDays
        self.formatVersion = formatVersion
        self.batchId = batchId
        self.embeddingBatchId = embeddingBatchId
        self.embeddingDims = embeddingDims
        self.layers = layers
        self.activation = activation
        self.outputActivation = outputActivation
        self.weights = weights
        self.features = features
        self.normalization = normalization
    }

    /// Name of the weight tensor of layer `index` (shape `[out, in]`, PyTorch's `nn.Linear` layout).
    public static func weightTensor(_ index: Int) -> String { "encoder.\(index).weight" }
    /// Name of the bias tensor of layer `index` (shape `[out]`).
    public static func biasTensor(_ index: Int) -> String { "encoder.\(index).bias" }

    /// Reads and decodes a manifest file.
    public static func load(from url: URL) throws -> ModelManifest {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw ModelError("cannot read manifest \(url.path): \(error.localizedDescription)")
        }
        return try decode(data, name: url.lastPathComponent)
    }

    /// Decodes a manifest from JSON bytes; `name` names it in errors.
    public static func decode(_ data: Data, name: String = "manifest.json") throws -> ModelManifest {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        do { return try decoder.decode(ModelManifest.self, from: data) } catch let error as DecodingError {
            throw ModelError("manifest \(name) is invalid: \(Self.describe(error))")
        }
    }

    /// Encodes the manifest as pretty JSON with snake_case keys.
    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }

    /// How many listens a longer horizon's value weighs in a shorter horizon's mean in the layouts
    /// `model init` writes (a group's `priorListens`). Chosen from the data, not from evaluation
    /// scores: an empirical-Bayes fit of how far a short window's mean strays from the longer one's
    /// against its listen count gave 6–29 on MovieLens-100K and 141–161 on the synthetic world.
    public static let defaultPriorListens: Float = 20

    /// The reference layout: log1p play counts per horizon, then mean audio and mean collaborative
    /// embeddings per horizon (3 + 3·audio + 3·collaborative inputs). An empty horizon takes the
    /// next longer horizon's mean (a user silent for a week is described by their month, not by a
    /// point shared with every silent user), and a sparse one leans on it by `priorListens`; zeros
    /// only when the longest is empty too (track embeddings are centred).
    public static func listeningLayout(
        dims: EmbeddingDims, horizons: [Horizon] = Horizon.all, priorListens: Float = defaultPriorListens
    ) -> [FeatureGroup] {
        var builder = LayoutBuilder(priorListens: priorListens)
        for h in horizons { builder.add(.playCountLog1p, h, 1) }
        for h in horizons { builder.add(.audioMean, h, dims.audio, imputation: 0, fallback: longer(h, in: horizons)) }
        for h in horizons { builder.add(.collaborativeMean, h, dims.collaborative, imputation: 0, fallback: longer(h, in: horizons)) }
        return builder.groups
    }

    /// The next longer horizon of `horizons` after `h`, if any.
    private static func longer(_ h: Horizon, in horizons: [Horizon]) -> Horizon? {
        horizons.filter { $0.lengthMs > h.lengthMs }.min { $0.lengthMs < $1.lengthMs }
    }

    /// The listening layout followed by the context groups `c_u`: device mix per horizon, country,
    /// account age, onboarding languages and artist embeddings, and indicators of what was imputed.
    public static func contextLayout(
        dims: EmbeddingDims, countries: [String], languages: [String], priorListens: Float = defaultPriorListens
    ) -> [FeatureGroup] {
        var builder = LayoutBuilder(groups: listeningLayout(dims: dims, priorListens: priorListens), priorListens: priorListens)
        let devices = Float(1) / Float(DeviceClass.all.count)
        for h in Horizon.all {
            builder.add(.deviceMix, h, DeviceClass.all.count, imputation: devices, fallback: longer(h, in: Horizon.all))
        }
        builder.add(.country, nil, countries.count + 1, imputation: 1 / Float(countries.count + 1))
        builder.add(.accountAgeLog1pDays, nil, 1, imputation: 5)
        builder.add(.onboardingLanguages, nil, languages.count, imputation: 1 / Float(max(1, languages.count)))
        builder.add(.onboardingArtistAudio, nil, dims.audio, imputation: 0)
        builder.add(.onboardingArtistCollaborative, nil, dims.collaborative, imputation: 0)
        let covered = builder.groups.filter { FeatureKind.imputable.contains($0.kind) && FeatureKind.perHorizon.contains($0.kind) == false }
            .map(\.name)
        builder.groups.append(
            FeatureGroup(
                name: "imputed", kind: .imputedIndicators, horizon: nil, offset: builder.offset, size: covered.count, covers: covered))
        return builder.groups
    }

    private static func describe(_ error: DecodingError) -> String {
        switch error {
        case .keyNotFound(let key, let context):
            return "missing field '\(path(context.codingPath + [key]))'"
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            let at = path(context.codingPath)
            return at.isEmpty ? context.debugDescription : "field '\(at)': \(context.debugDescription)"
        @unknown default:
            return String(describing: error)
        }
    }

    private static func path(_ keys: [CodingKey]) -> String {
        keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
    }
}

/// Appends feature groups at consecutive offsets.
struct LayoutBuilder {
    var groups: [FeatureGroup] = []
    /// `priorListens` of every group added with a fallback (none when 0).
    var priorListens: Float = 0

    var offset: Int { groups.last.map { $0.offset + $0.size } ?? 0 }

    mutating func add(_ kind: FeatureKind, _ horizon: Horizon?, _ size: Int, imputation: Float? = nil, fallback: Horizon? = nil) {
        groups.append(
            FeatureGroup(
                name: Self.name(kind, horizon), kind: kind, horizon: horizon?.name, offset: offset, size: size,
                imputation: imputation.map { [Float](repeating: $0, count: size) }, fallback: fallback.map { Self.name(kind, $0) },
                priorListens: fallback != nil && priorListens > 0 ? priorListens : nil))
    }

    static func name(_ kind: FeatureKind, _ horizon: Horizon?) -> String {
        horizon.map { "\(kind.rawValue)_\($0.name)" } ?? kind.rawValue
    }
}
