// Negatives for future-listening prediction: catalogue items the user did not play in the window.

/// Samples, for one user and window, as many negatives as positives from the catalogue, never one
/// of the positives, without repeats, deterministically from a seed.
public struct NegativeSampler: Sendable {
    /// Catalogue size (items are `0..<catalogue`).
    public let catalogue: Int

    /// A sampler over items `0..<catalogue`.
    public init(catalogue: Int) { self.catalogue = catalogue }

    /// `count` distinct items not in `positives` (fewer when the catalogue has fewer to give).
    public func sample(count: Int, excluding positives: Set<Int>, rng: inout SplitMix64) -> [Int] {
        let available = catalogue - positives.filter { $0 >= 0 && $0 < catalogue }.count
        let wanted = min(count, max(0, available))
        var chosen = Set<Int>()
        var out: [Int] = []
        out.reserveCapacity(wanted)
        if wanted * 2 >= available {
            // Dense: shuffle what is left and take a prefix.
            var rest = (0..<catalogue).filter { !positives.contains($0) }
            for i in stride(from: rest.count - 1, to: 0, by: -1) { rest.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
            return Array(rest.prefix(wanted))
        }
        while out.count < wanted {
            let item = Int(rng.next() % UInt64(catalogue))
            if positives.contains(item) || !chosen.insert(item).inserted { continue }
            out.append(item)
        }
        return out
    }
}
