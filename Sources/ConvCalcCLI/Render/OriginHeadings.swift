import ConvCalcCore

/// Where layers came from, shown as a heading line where it changes: `› bottleneck(64, 2)`,
/// `› stage(128, 4, 2) › repeat 2/3` (the block uses and repeats that produced them, outermost
/// first), so a table keeps its flat numbering and still says which block a row belongs to.
///
/// Worked out in the order written (a merge before its branches): a merge's heading is the
/// part of its layers' origins they all share, and a layer inside it shows a heading only when
/// its own origin says more.
struct OriginHeadings {
    /// The heading to show before layer `index` (0-based).
    private(set) var beforeLayer: [Int: String] = [:]
    /// The heading to show before each merge, in the order `StackTree.reduce` meets the
    /// merges (a merge after the merges inside its branches); nil for none.
    private(set) var mergesInReduceOrder: [String?] = []

    /// - Parameter origin: a layer's origin from its result (`layer.origin`).
    init<L, M>(_ tree: [StackResult<L, M>], origin: (L) -> [String]) {
        var shown: [String] = []
        visit(tree, origin: origin, shown: &shown)
    }

    static func text(_ origin: [String]) -> String { "› " + origin.joined(separator: " › ") }

    private mutating func visit<L, M>(_ results: [StackResult<L, M>], origin: (L) -> [String], shown: inout [String]) {
        for result in results {
            switch result {
            case let .layer(index, value):
                let layerOrigin = origin(value)
                if layerOrigin != shown && !layerOrigin.isEmpty { beforeLayer[index] = Self.text(layerOrigin) }
                shown = layerOrigin
            case let .merge(_, _, branches):
                let origins = StackTree.layerValues([result]).map(origin)
                let common = origins.first.map { first in
                    origins.dropFirst().reduce(first) { common, next in Array(zip(common, next).prefix { $0 == $1 }.map(\.0)) }
                } ?? shown
                let heading = common != shown && !common.isEmpty ? Self.text(common) : nil
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
    var isEmpty: Bool { beforeLayer.isEmpty && mergesInReduceOrder.allSatisfy { $0 == nil } }
}
