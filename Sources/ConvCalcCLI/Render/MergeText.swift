import ConvCalcCore

/// How a merge is named in text and JSON, alike in every command.
enum MergeText {
    /// The first row of a merge: `add of 2 branches`, `concat of 4 branches`; a split names its
    /// shares, `split into 58 + 58 channels`, or `split into 2 equal shares` when the
    /// channels are not known (`shape` and `rf` do not follow channels).
    static func header(_ kind: MergeKind, branches: Int, shares: [Int]?) -> String {
        guard case .split = kind else { return "\(kind.name) of \(branches) branches" }
        guard let shares else { return "split into \(branches) equal shares" }
        return "split into " + shares.map(String.init).joined(separator: " + ") + " channels"
    }

    /// A split's `"shares"` in JSON (channels per branch, null when not known); nothing for
    /// add and concat.
    static func sharePairs(_ kind: MergeKind, shares: [Int]?) -> [(String, JSON)] {
        guard case .split = kind else { return [] }
        return [("shares", shares.map { .ints($0) } ?? .null)]
    }
}
