// How many listens a longer window's mean should weigh in a shorter one's, fitted from users' windows.

/// An empirical-Bayes fit of `prior_listens` for one pair of windows, the short one inside the long.
///
/// For a user with n listens in the short window and N in the long, the squared distance between
/// the two means is about τ² + σ² (1/n − 1/N): σ² is the spread of one listen's embedding around
/// the user's taste of the moment, τ² how far that taste really moves between the windows. A
/// least-squares line through every user with listens in the short window and more in the long
/// gives σ² (slope) and τ² (intercept); the longer window's value should then weigh as much as
/// σ²/τ² listens in the short window's mean. Pure arithmetic in double precision.
public struct PriorFit: Sendable, Equatable {
    private var n = 0.0, sx = 0.0, sy = 0.0, sxx = 0.0, sxy = 0.0

    /// An empty fit.
    public init() {}

    /// Users counted so far.
    public var users: Int { Int(n) }

    /// Counts one user: the first `width` sums of each aggregate (the embeddings) are compared.
    public mutating func add(short: HorizonAggregate, long: HorizonAggregate, width: Int) {
        guard short.count > 0, long.count > short.count else { return }
        let ns = Double(short.count), nl = Double(long.count)
        var squared = 0.0
        for k in 0..<width {
            let d = Double(short.sums[k]) / ns - Double(long.sums[k]) / nl
            squared += d * d
        }
        add(x: 1 / ns - 1 / nl, squaredDistance: squared)
    }

    /// Counts one point of the line: `x` = 1/n − 1/N, and the squared distance between the means.
    public mutating func add(x: Double, squaredDistance y: Double) {
        n += 1
        sx += x
        sy += y
        sxx += x * x
        sxy += x * y
    }

    /// The fitted σ² and τ² and their ratio, the prior in listens (infinite when the fit finds no
    /// drift, τ² ≤ 0); nil with fewer than three users, no spread in listen counts, or σ² ≤ 0.
    public var estimate: (sigma2: Double, tau2: Double, priorListens: Double)? {
        guard n >= 3 else { return nil }
        let det = n * sxx - sx * sx
        guard det > 1e-12 * n * sxx else { return nil }
        let slope = (n * sxy - sx * sy) / det
        let intercept = (sy - slope * sx) / n
        guard slope > 0 else { return nil }
        // An intercept within rounding of zero (against the mean distance) is no drift.
        let drifts = intercept > 1e-9 * abs(sy / n)
        return (slope, intercept, drifts ? slope / intercept : .infinity)
    }
}
