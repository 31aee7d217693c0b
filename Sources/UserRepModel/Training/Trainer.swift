// Algorithm 1 of the paper: the autoencoder trained with Adam on mini-batches of standardized features.
import Foundation

/// How `Trainer` trains.
public struct TrainingOptions: Sendable {
    /// Encoder widths after the input, code last (default 512 → 256 → 120); the decoder mirrors them.
    public var hidden = [512, 256, 120]
    /// Most passes over the training rows.
    public var epochs = 50
    /// Rows per Adam step.
    public var batchSize = 256
    /// Adam's step size.
    public var learningRate: Float = 1e-3
    /// Alpha-dropout rate on hidden SELU layers (0 disables it).
    public var dropout: Float = 0.05
    /// Masking noise on the input (a denoising autoencoder): each standardized feature of a
    /// training row is set to its mean (0) with this probability, and the loss still compares the
    /// reconstruction with the clean row (0 disables it).
    public var inputDropout: Float = 0
    /// Share of rows held out for validation and early stopping.
    public var validationFraction = 0.1
    /// Epochs without a better validation loss before training stops.
    public var patience = 5
    /// Seed of the initialization, the split, the shuffles and the dropout masks.
    public var seed: UInt64 = 1
    /// The loss.
    public var loss = ReconstructionLoss.l2
    /// Threads of each matrix product (OpenBLAS).
    public var threads = 1

    /// The defaults.
    public init() {}
}

/// One finished epoch.
public struct EpochRecord: Sendable, Equatable {
    /// 1-based epoch number.
    public let epoch: Int
    /// Mean training loss over the epoch's mini-batches (with dropout).
    public let trainLoss: Double
    /// Loss on the validation rows (no dropout); nil without a validation split.
    public let validationLoss: Double?
    /// Wall time of the epoch.
    public let seconds: Double
}

/// Where an epoch is, for a progress bar.
public struct TrainingProgress: Sendable {
    /// 1-based epoch.
    public let epoch: Int
    /// Most epochs.
    public let epochs: Int
    /// Training rows done in this epoch, and their total.
    public let rowsDone: Int, rows: Int
    /// Mean training loss of this epoch so far.
    public let trainLoss: Double
    /// Seconds since the epoch started.
    public let seconds: Double
    /// The last finished epoch, if any.
    public let previous: EpochRecord?
}

/// What training produced.
public struct TrainingResult: Sendable {
    /// The network of the epoch with the best validation loss (the last one without validation).
    public let network: Autoencoder
    /// Per-feature mean and standard deviation of the training rows (1 where a feature is constant).
    public let mean: [Float], std: [Float]
    /// Features that were constant on the training rows (their standard deviation is set to 1).
    public let constantFeatures: Int
    /// Every epoch, in order.
    public let history: [EpochRecord]
    /// The epoch whose network was kept.
    public let bestEpoch: Int
    /// Rows trained on and held out.
    public let trainRows: Int, validationRows: Int
    /// Whether early stopping ended training before `epochs`.
    public let stoppedEarly: Bool
}

/// Trains an autoencoder on a row-major feature matrix read in place (rows are gathered per
/// mini-batch through a shuffled index, never copied whole).
public enum Trainer {
    /// Trains on `rows × width` features. Throws for non-finite values (naming the first bad row),
    /// no rows, or a split that leaves no training or validation rows.
    public static func train(
        features: UnsafeBufferPointer<Float>, rows: Int, width: Int, options: TrainingOptions,
        progress: ((TrainingProgress) -> Void)? = nil
    ) throws -> TrainingResult {
        guard rows > 0, width > 0 else { throw ModelError("the features file has no rows") }
        precondition(features.count >= rows * width)
        if let bad = (0..<rows).first(where: { r in (0..<width).contains { !features[r * width + $0].isFinite } }) {
            let column = (0..<width).first { !features[bad * width + $0].isFinite } ?? 0
            throw ModelError("row \(bad) has a non-finite value (\(features[bad * width + column])) at feature \(column); fix the export")
        }
        guard options.batchSize >= 1, options.epochs >= 1, !options.hidden.isEmpty, options.hidden.allSatisfy({ $0 >= 1 }) else {
            throw ModelError("batch size, epochs and layer widths must be at least 1")
        }
        guard options.inputDropout >= 0, options.inputDropout < 1 else {
            throw ModelError("the input dropout must be in [0, 1), got \(options.inputDropout)")
        }
        guard options.validationFraction >= 0, options.validationFraction < 1 else {
            throw ModelError("the validation fraction must be in [0, 1), got \(options.validationFraction)")
        }
        BLASMatrix.setThreads(options.threads)
        var rng = SplitMix64(seed: options.seed)
        var order = Array(0..<rows)
        shuffle(&order, &rng)
        let held = options.validationFraction > 0 ? Int((Double(rows) * options.validationFraction).rounded(.up)) : 0
        guard rows - held >= 1 else {
            throw ModelError("the validation split (\(options.validationFraction)) of \(rows) rows leaves no training rows")
        }
        guard options.validationFraction == 0 || held >= 1 else { throw ModelError("the validation split leaves no validation rows") }
        let validation = Array(order[(rows - held)...]).sorted()
        var train = Array(order[..<(rows - held)]).sorted()

        let (mean, std, constants) = standardization(features, width: width, rows: train)
        var network = Autoencoder(encoder: [width] + options.hidden, seed: rng.next())
        var adam = Adam(for: network, learningRate: options.learningRate)
        let batch = min(options.batchSize, train.count)
        var ws = AutoencoderWorkspace(network: network, rows: max(batch, min(validation.count, 1024)))
        var grads = AutoencoderGradients(zeroFor: network)
        var outputGrad = [Float](repeating: 0, count: ws.rows * width)
        // The clean rows of a mini-batch, the loss's target under masking noise.
        var clean = options.inputDropout > 0 ? [Float](repeating: 0, count: ws.rows * width) : []
        let dropout = AlphaDropout(rate: options.dropout)
        var history: [EpochRecord] = []
        var best: (loss: Double, epoch: Int, network: Autoencoder)?
        var worseEpochs = 0
        var stoppedEarly = false

        for epoch in 1...options.epochs {
            let started = Date()
            shuffle(&train, &rng)
            var lossSum = 0.0, done = 0
            var start = 0
            while start < train.count {
                let n = min(batch, train.count - start)
                ws.withInput { x in gather(features, width: width, rows: train[start..<(start + n)], mean: mean, std: std, into: x) }
                if options.inputDropout > 0 {
                    ws.withInput { x in
                        clean.withUnsafeMutableBufferPointer { c in mask(x, count: n * width, rate: options.inputDropout, keeping: c, &rng) }
                    }
                }
                network.forward(rows: n, workspace: &ws, dropout: dropout, rng: &rng)
                // The target: the clean rows (a temporary reference, released before `backward`).
                let loss = (options.inputDropout > 0 ? clean : ws.a[0]).withUnsafeBufferPointer { x in
                    ws.a[network.layerCount].withUnsafeBufferPointer { y in
                        outputGrad.withUnsafeMutableBufferPointer { g in
                            options.loss.evaluate(reconstruction: y, target: x, rows: n, width: width, gradient: g)
                        }
                    }
                }
                outputGrad.withUnsafeBufferPointer { g in
                    network.backward(rows: n, workspace: &ws, outputGradient: g, dropout: dropout, gradients: &grads)
                }
                adam.update(&network, with: grads)
                lossSum += loss * Double(n)
                done += n
                start += n
                progress?(
                    TrainingProgress(
                        epoch: epoch, epochs: options.epochs, rowsDone: done, rows: train.count,
                        trainLoss: lossSum / Double(done), seconds: Date().timeIntervalSince(started), previous: history.last))
            }
            let validationLoss =
                validation.isEmpty
                ? nil
                : evaluate(network, features, width: width, rows: validation, mean: mean, std: std, loss: options.loss, workspace: &ws)
            let record = EpochRecord(
                epoch: epoch, trainLoss: lossSum / Double(max(done, 1)), validationLoss: validationLoss,
                seconds: Date().timeIntervalSince(started))
            history.append(record)
            let score = validationLoss ?? record.trainLoss
            if best == nil || score < (best?.loss ?? .infinity) {
                best = (score, epoch, network)
                worseEpochs = 0
            } else if validationLoss != nil {
                worseEpochs += 1
                if worseEpochs >= options.patience && epoch < options.epochs {
                    stoppedEarly = true
                    break
                }
            }
        }
        let kept = validation.isEmpty ? (history.count, network) : (best?.epoch ?? history.count, best?.network ?? network)
        return TrainingResult(
            network: kept.1, mean: mean, std: std, constantFeatures: constants, history: history, bestEpoch: kept.0,
            trainRows: train.count, validationRows: validation.count, stoppedEarly: stoppedEarly)
    }

    /// The loss of `network` (no dropout) over `rows`, in blocks of the workspace's size.
    public static func evaluate(
        _ network: Autoencoder, _ features: UnsafeBufferPointer<Float>, width: Int, rows: [Int], mean: [Float], std: [Float],
        loss: ReconstructionLoss, workspace ws: inout AutoencoderWorkspace
    ) -> Double {
        var total = 0.0
        var start = 0
        var unused = SplitMix64(seed: 0)
        while start < rows.count {
            let n = min(ws.rows, rows.count - start)
            ws.withInput { x in gather(features, width: width, rows: rows[start..<(start + n)], mean: mean, std: std, into: x) }
            network.forward(rows: n, workspace: &ws, dropout: nil, rng: &unused)
            total += ws.a[0].withUnsafeBufferPointer { x in
                ws.a[network.layerCount].withUnsafeBufferPointer { y in
                    loss.evaluate(reconstruction: y, target: x, rows: n, width: width, gradient: nil)
                } * Double(n)
            }
            start += n
        }
        return total / Double(max(rows.count, 1))
    }

    /// Mean and standard deviation (population) of each feature over `rows`, in double
    /// precision; a feature whose deviation is below 1e-6 gets 1, so it is only centred.
    public static func standardization(_ features: UnsafeBufferPointer<Float>, width: Int, rows: [Int]) -> (
        mean: [Float], std: [Float], constants: Int
    ) {
        let moments = ColumnMoments(features, width: width, rows: rows)
        var constants = 0
        var mean = [Float](repeating: 0, count: width), std = mean
        for k in 0..<width {
            mean[k] = Float(moments.mean[k])
            let s = moments.variance[k].squareRoot()
            if s < 1e-6 {
                std[k] = 1
                constants += 1
            } else {
                std[k] = Float(s)
            }
        }
        return (mean, std, constants)
    }

    /// Copies `rows` of `features`, standardized, into `x` (row after row).
    static func gather(
        _ features: UnsafeBufferPointer<Float>, width: Int, rows: ArraySlice<Int>, mean: [Float], std: [Float],
        into x: UnsafeMutableBufferPointer<Float>
    ) {
        var o = 0
        for r in rows {
            let base = r * width
            for k in 0..<width { x[o + k] = (features[base + k] - mean[k]) / std[k] }
            o += width
        }
    }

    /// Copies the first `count` values of `x` to `clean`, then sets each to 0 with probability `rate`.
    static func mask(
        _ x: UnsafeMutableBufferPointer<Float>, count: Int, rate: Float, keeping clean: UnsafeMutableBufferPointer<Float>,
        _ rng: inout SplitMix64
    ) {
        for i in 0..<count {
            clean[i] = x[i]
            if rng.nextUnit() < Double(rate) { x[i] = 0 }
        }
    }

    /// Fisher–Yates with the given source.
    static func shuffle(_ a: inout [Int], _ rng: inout SplitMix64) {
        guard a.count > 1 else { return }
        for i in stride(from: a.count - 1, to: 0, by: -1) {
            let j = Int(rng.next() % UInt64(i + 1))
            a.swapAt(i, j)
        }
    }
}
