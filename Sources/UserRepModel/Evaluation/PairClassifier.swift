// The simple classifier of the paper's evaluations: will this user play this item?
import Foundation

/// Labelled (user, item) pairs: a matrix of user vectors and, per pair, the user's row, the
/// item's features and the label.
public struct PairSet: Sendable {
    /// User vectors, `users × userWidth` row major.
    public let users: [Float]
    /// Floats per user vector (0: the classifier sees only the item's features).
    public let userWidth: Int
    /// Floats per pair's item features.
    public let itemWidth: Int
    /// Per pair: the row of `users`.
    public private(set) var userRows: [Int] = []
    /// Per pair: the item's features, `pairs × itemWidth` row major.
    public private(set) var items: [Float] = []
    /// Per pair: whether the user played the item.
    public private(set) var labels: [Bool] = []

    /// An empty set over `users` (`userWidth` floats each) and items of `itemWidth` features.
    public init(users: [Float], userWidth: Int, itemWidth: Int) {
        precondition(userWidth == 0 || users.count % userWidth == 0, "users must be whole rows")
        self.users = users
        self.userWidth = userWidth
        self.itemWidth = itemWidth
    }

    /// Pairs held.
    public var count: Int { labels.count }

    /// Adds a pair of user row `user` and an item with `features`.
    public mutating func append(user: Int, item features: [Float], label: Bool) {
        precondition(features.count == itemWidth, "item features must have itemWidth floats")
        userRows.append(user)
        items += features
        labels.append(label)
    }
}

/// Logistic regression on a user vector `u` and an item's features `t` with their interactions,
/// `p = σ(uᵀ W t + aᵀu + bᵀt + c)` on `u` and `t` standardized with the training pairs' statistics:
/// the bilinear term is what lets the ranking of one user's items depend on the user (a linear
/// model of the concatenation `[u, t]` ranks every user's items alike). Trained by Adam on
/// mini-batches of the mean cross-entropy plus an L2 penalty; deterministic for a seed.
public struct PairClassifier: Sendable {
    /// Training settings.
    public struct Options: Sendable, Equatable {
        /// Passes over the training pairs.
        public var epochs = 30
        /// Pairs per Adam step.
        public var batchSize = 64
        /// Adam's step size.
        public var learningRate: Float = 0.01
        /// L2 penalty on every weight but the bias.
        public var l2: Float = 1e-3
        /// Seed of the shuffles.
        public var seed: UInt64 = 1

        /// The defaults.
        public init() {}
    }

    /// User vector width.
    public let userWidth: Int
    /// Item feature width.
    public let itemWidth: Int
    /// The `(userWidth + 1) × (itemWidth + 1)` matrix `M` of `z = [u, 1]ᵀ M [t, 1]`, row major:
    /// W, with a in the last column, b in the last row and c in the corner.
    public private(set) var parameters: [Float]
    let userMean: [Float], userScale: [Float], itemMean: [Float], itemScale: [Float]

    /// Parameters of a model of these widths.
    public static func parameterCount(userWidth: Int, itemWidth: Int) -> Int { (userWidth + 1) * (itemWidth + 1) }

    /// A classifier with the given parameters and standardization (for tests).
    init(userWidth: Int, itemWidth: Int, parameters: [Float], userMean: [Float], userScale: [Float], itemMean: [Float], itemScale: [Float])
    {
        self.userWidth = userWidth
        self.itemWidth = itemWidth
        self.parameters = parameters
        self.userMean = userMean
        self.userScale = userScale
        self.itemMean = itemMean
        self.itemScale = itemScale
    }

    /// Fits a classifier to every pair of `set`.
    public static func fit(_ set: PairSet, options: Options = Options()) -> PairClassifier {
        let (p, q) = (set.userWidth, set.itemWidth)
        let distinctUsers = Array(Set(set.userRows)).sorted()
        let (userMean, userScale) = set.users.withUnsafeBufferPointer { standardization(ColumnMoments($0, width: p, rows: distinctUsers)) }
        let (itemMean, itemScale) = set.items.withUnsafeBufferPointer { standardization(ColumnMoments($0, width: q, rows: 0..<set.count)) }
        var model = PairClassifier(
            userWidth: p, itemWidth: q, parameters: [Float](repeating: 0, count: parameterCount(userWidth: p, itemWidth: q)),
            userMean: userMean, userScale: userScale, itemMean: itemMean, itemScale: itemScale)
        guard set.count > 0 else { return model }
        var m = model.parameters, v = model.parameters
        var gradient = model.parameters
        var order = Array(0..<set.count)
        var rng = SplitMix64(seed: options.seed)
        var step = 0
        var workspace = Workspace()
        for _ in 0..<options.epochs {
            for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
            var start = 0
            while start < order.count {
                let batch = order[start..<min(order.count, start + options.batchSize)]
                model.gradient(of: set, pairs: batch, l2: options.l2, into: &gradient, workspace: &workspace)
                step += 1
                let c1 = 1 - powf(0.9, Float(step)), c2 = 1 - powf(0.999, Float(step))
                Adam.apply(&model.parameters, gradient, &m, &v, lr: options.learningRate, 0.9, 0.999, 1e-8, c1, c2)
                start += options.batchSize
            }
        }
        return model
    }

    /// Probabilities of every pair of `set`.
    public func probabilities(_ set: PairSet) -> [Double] {
        var out: [Double] = []
        out.reserveCapacity(set.count)
        var workspace = Workspace()
        var start = 0
        while start < set.count {
            let chunk = start..<min(set.count, start + 1_024)
            logits(set, pairs: chunk, workspace: &workspace)
            out += workspace.z.prefix(chunk.count).map { 1 / (1 + exp(-Double($0))) }
            start = chunk.upperBound
        }
        return out
    }

    /// The mean cross-entropy of `pairs` plus the L2 penalty (what `gradient` differentiates),
    /// by a plain loop in double precision: an implementation independent of the BLAS one.
    func loss(of set: PairSet, pairs: some Collection<Int>, l2: Float) -> Double {
        let (p, q) = (userWidth, itemWidth)
        var total = 0.0
        for i in pairs {
            let row = set.userRows[i]
            let u = (0..<p).map { Double((set.users[row * p + $0] - userMean[$0]) * userScale[$0]) } + [1]
            let t = (0..<q).map { Double((set.items[i * q + $0] - itemMean[$0]) * itemScale[$0]) } + [1]
            var z = 0.0
            for a in 0...p { for b in 0...q { z += u[a] * Double(parameters[a * (q + 1) + b]) * t[b] } }
            // log(1 + e^z) − y z, without overflow.
            total += max(z, 0) + log1p(exp(-abs(z))) - (set.labels[i] ? z : 0)
        }
        let penalty = parameters.dropLast().reduce(0.0) { $0 + Double($1) * Double($1) }
        return total / Double(pairs.count) + Double(l2) / 2 * penalty
    }

    /// Scratch matrices of one batch: standardized `[u, 1]` and `[t, 1]` rows, `U·M`, the logits.
    struct Workspace {
        var u: [Float] = [], t: [Float] = [], um: [Float] = [], z: [Float] = []
    }

    /// Fills `workspace.z[0..<pairs.count]` with the logits of `pairs`: `Y = U·M` by one SGEMM,
    /// then each row of `Y` dotted with its `[t, 1]`.
    func logits(_ set: PairSet, pairs: some Collection<Int>, workspace w: inout Workspace) {
        let (p1, q1, n) = (userWidth + 1, itemWidth + 1, pairs.count)
        if w.u.count < n * p1 { w.u = [Float](repeating: 0, count: n * p1) }
        if w.t.count < n * q1 { w.t = [Float](repeating: 0, count: n * q1) }
        if w.um.count < n * q1 { w.um = [Float](repeating: 0, count: n * q1) }
        if w.z.count < n { w.z = [Float](repeating: 0, count: n) }
        w.u.withUnsafeMutableBufferPointer { u in
            w.t.withUnsafeMutableBufferPointer { t in
                set.users.withUnsafeBufferPointer { users in
                    set.items.withUnsafeBufferPointer { items in
                        for (r, i) in pairs.enumerated() {
                            let row = set.userRows[i]
                            for a in 0..<userWidth { u[r * p1 + a] = (users[row * userWidth + a] - userMean[a]) * userScale[a] }
                            u[r * p1 + userWidth] = 1
                            for b in 0..<itemWidth { t[r * q1 + b] = (items[i * itemWidth + b] - itemMean[b]) * itemScale[b] }
                            t[r * q1 + itemWidth] = 1
                        }
                    }
                }
                parameters.withUnsafeBufferPointer { m in
                    w.um.withUnsafeMutableBufferPointer { y in
                        BLASMatrix.gemm(
                            transA: false, transB: false, m: n, n: q1, k: p1, UnsafeBufferPointer(u), lda: p1, m, ldb: q1, beta: 0, y,
                            ldc: q1)
                        w.z.withUnsafeMutableBufferPointer { z in
                            for r in 0..<n {
                                var sum: Float = 0
                                for b in 0..<q1 { sum += y[r * q1 + b] * t[r * q1 + b] }
                                z[r] = sum
                            }
                        }
                    }
                }
            }
        }
    }

    /// The gradient of `loss` over `pairs`, into `gradient`: `Uᵀ · diag(σ(z) − y) · T / n` by one
    /// SGEMM, plus the L2 term on every parameter but the bias.
    func gradient(of set: PairSet, pairs: some Collection<Int>, l2: Float, into gradient: inout [Float], workspace w: inout Workspace) {
        let (p1, q1, n) = (userWidth + 1, itemWidth + 1, pairs.count)
        logits(set, pairs: pairs, workspace: &w)
        let scale = 1 / Float(n)
        w.t.withUnsafeMutableBufferPointer { t in
            for (r, i) in pairs.enumerated() {
                let residual = (1 / (1 + expf(-w.z[r])) - (set.labels[i] ? 1 : 0)) * scale
                for b in 0..<q1 { t[r * q1 + b] *= residual }
            }
        }
        if gradient.count != parameters.count { gradient = [Float](repeating: 0, count: parameters.count) }
        let corner = parameters.count - 1
        for k in 0..<parameters.count { gradient[k] = k == corner ? 0 : l2 * parameters[k] }
        w.u.withUnsafeBufferPointer { u in
            w.t.withUnsafeBufferPointer { t in
                gradient.withUnsafeMutableBufferPointer { g in
                    BLASMatrix.gemm(transA: true, transB: false, m: p1, n: q1, k: n, u, lda: p1, t, ldb: q1, beta: 1, g, ldc: q1)
                }
            }
        }
    }

    /// `gradient(of:pairs:l2:into:workspace:)` with a workspace of its own.
    func gradient(of set: PairSet, pairs: some Collection<Int>, l2: Float, into gradient: inout [Float]) {
        var w = Workspace()
        self.gradient(of: set, pairs: pairs, l2: l2, into: &gradient, workspace: &w)
    }

    /// Per column: the mean and the inverse standard deviation (0 for a constant column).
    private static func standardization(_ moments: ColumnMoments) -> (mean: [Float], scale: [Float]) {
        (moments.mean.map { Float($0) }, moments.variance.map { $0 > 1e-12 ? Float(1 / $0.squareRoot()) : 0 })
    }
}
