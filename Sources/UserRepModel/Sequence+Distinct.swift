// Distinct elements in first-seen order (ids for one multi-get).

extension Sequence where Element: Hashable {
    /// The elements without repeats, each where it first appears.
    public func distinctInOrder() -> [Element] {
        var seen = Set<Element>()
        return filter { seen.insert($0).inserted }
    }
}
