import ConvCalcCore

/// Where layers came from, shown as heading lines where it changes, one line for each block use
/// or repeat newly entered (`› stage(128,4,2)`, then `› repeat 2/3`),
/// so a table keeps its flat numbering and still says which block a row belongs to.
///
/// Worked out in the order written (a merge before its branches): a merge's heading is the
/// part of its layers' origins they all share, and a layer inside it shows a heading only when
/// its own origin says more.
struct OriginHeadings {
    /// The heading lines to show before layer `index` (0-based).
    private(set) var beforeLayer: [Int: [String]] = [:]
    /// The heading to show before each merge, in the order `StackTree.reduce` meets the
    /// merges (a merge after the merges inside its branches); empty for none.
    private(set) var mergesInReduceOrder: [[String]] = []

    /// - Parameter origin: a layer's origin from its result (`layer.origin`).
    init<L, M>(_ tree: [StackResult<L, M>], origin: (L) -> [String]) {
        var shown: [String] = []
        visit(tree, origin: origin, shown: &shown)
    }

    /// A line for each frame of `origin` past what it shares with `shown`.
    static func lines(_ origin: [String], after shown: [String]) -> [String] {
        let shared = zip(origin, shown).prefix { $0 == $1 }.count
        // A no-break space: a narrow table breaks the heading after `(` and `,`, never after `›`.
        return origin.indices.dropFirst(shared).map { "›\u{00A0}" + origin[$0] }
    }

    private mutating func visit<L, M>(_ results: [StackResult<L, M>], origin: (L) -> [String], shown: inout [String]) {
        for result in results {
            switch result {
            case let .layer(index, value):
                let layerOrigin = origin(value)
                if layerOrigin != shown && !layerOrigin.isEmpty { beforeLayer[index] = Self.lines(layerOrigin, after: shown) }
                shown = layerOrigin
            case let .merge(_, _, branches):
                let origins = StackTree.layerValues([result]).map(origin)
                let common = origins.first.map { first in
                    origins.dropFirst().reduce(first) { common, next in Array(zip(common, next).prefix { $0 == $1 }.map(\.0)) }
                } ?? shown
                let heading = common != shown && !common.isEmpty ? Self.lines(common, after: shown) : []
                for branch in branches {
                    var inner = common
                    visit(branch, origin: origin, shown: &inner)
                }
                mergesInReduceOrder.append(heading)
                shown = common
            }
        }
    }

    /// Whether any layer came from a block or a repeat.
    var isEmpty: Bool { beforeLayer.isEmpty && mergesInReduceOrder.allSatisfy(\.isEmpty) }
}
