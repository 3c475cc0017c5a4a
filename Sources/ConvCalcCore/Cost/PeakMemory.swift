/// The peak of inference activation memory, from the tensors' lifetimes (issue #17): layers
/// run in the order written; a tensor lives from the layer that makes it until its last use —
/// the next layer, or, for a merge's input, until every branch has started from it (an
/// identity branch holds it until the merge). Views (identity, flatten) and, with `inPlace`,
/// element-wise activations and dropout make no new tensor. The input is live from the start.
/// Weights are not included; neither are workspaces a library may allocate.
public struct PeakMemory: Sendable {
    /// The most activation values live at once.
    public var values = 0
    /// The layer (1-based) whose output made the peak; nil when it is the input, or a merge's
    /// output (then `afterMerge` is true).
    public var atLayer: Int?
    public var afterMerge = false
    /// The tensors live at the peak, by what made them: a layer index (1-based), 0 for the
    /// input, -1 for a merge's output; with their values.
    public var live: [(madeBy: Int, values: Int)] = []

    public static func of(_ network: NetworkCost, settings: RunSettings) throws -> PeakMemory? {
        guard network.entries.allSatisfy({ $0.channels != nil && $0.spatial != nil }),
              let channels = network.stack.inputChannels, let size = network.stack.inputSize else { return nil }
        var tracker = Tracker()
        let input = tracker.allocate(values: try Checked.mul(Checked.mul(settings.batch, channels), Checked.product(size)), madeBy: 0)
        var peak = PeakMemory()
        func record(_ layer: Int?, merge: Bool) {
            guard tracker.total > peak.values else { return }
            peak.values = tracker.total
            peak.atLayer = layer
            peak.afterMerge = merge
            peak.live = tracker.live.sorted { $0.key < $1.key }.map { ($0.value.madeBy, $0.value.values) }
        }
        record(nil, merge: false)
        let entries = Dictionary(uniqueKeysWithValues: network.entries.map { ($0.index - 1, $0) })
        // The state: the tensor (its storage) and the values the layer's output has (a view's
        // may be fewer than its storage's, as a crop's).
        let start = (tensor: input, values: tracker.values(of: input))
        _ = try StackTree.fold(network.stack.nodes, from: start, layer: { index, current in
            let entry = entries[index]!
            let values = try Checked.mul(Checked.mul(settings.batch, entry.channels!), Checked.product(entry.spatial!))
            if RunCost.isView(entry.layer.type, settings) { return ((), (current.tensor, values)) }
            let output = tracker.allocate(values: values, madeBy: entry.index)
            try tracker.check()
            record(entry.index, merge: false)
            tracker.release(current.tensor)
            return ((), (output, values))
        }, branchInputs: { kind, current, count in
            tracker.retain(current.tensor, extra: count - 1)
            return kind.branchValues(current.values, branches: count).map { (current.tensor, $0) }
        }, merge: { kind, _, outputs in
            let values = try kind.mergedValues(outputs.map(\.values))
            let output = tracker.allocate(values: values, madeBy: -1)
            try tracker.check()
            record(nil, merge: true)
            for branch in outputs { tracker.release(branch.tensor) }
            return ((), (output, values))
        })
        return peak
    }

    /// Live tensors with reference counts.
    struct Tracker {
        var live: [Int: (madeBy: Int, values: Int, references: Int)] = [:]
        var total = 0
        var overflow = false
        var next = 0

        mutating func allocate(values: Int, madeBy: Int) -> Int {
            next += 1
            live[next] = (madeBy, values, 1)
            let (sum, o) = total.addingReportingOverflow(values)
            total = sum
            overflow = overflow || o
            return next
        }

        func check() throws {
            if overflow { throw ArithmeticError.overflow }
        }

        func values(of tensor: Int) -> Int { live[tensor]?.values ?? 0 }

        mutating func retain(_ tensor: Int, extra: Int) {
            live[tensor]?.references += extra
        }

        mutating func release(_ tensor: Int) {
            guard var entry = live[tensor] else { return }
            entry.references -= 1
            if entry.references > 0 {
                live[tensor] = entry
            } else {
                live[tensor] = nil
                total -= entry.values
            }
        }
    }
}
