import ConvCalcCore

/// The headings of `shape`'s layers (`10  relu    13x13 → 13x13`) and the indentation of the
/// working under them, alike for every layer of a stack: the index as wide as the stack's
/// largest, so headings and working line up for 9, 10 and 100 layers; the token padded to
/// the longest one that fits the width, a longer one broken after a comma.
struct LayerHeadings {
    /// Columns of the layer number: the digits of the largest.
    let indexWidth: Int
    /// Columns the token is padded to (a broken token's pieces are at most this wide).
    let tokenWidth: Int
    let layout: TextLayout

    /// - Parameters:
    ///   - sizesWidth: the columns of the widest text after the token (`224x224 → 55x55`),
    ///     0 when headings have nothing after it.
    ///   - depth: the deepest nesting of a layer (four columns a level).
    init(stack: LayerStack, sizesWidth: Int, depth: Int, layout: TextLayout) {
        indexWidth = String(stack.layers.count).count
        let longest = stack.layers.map { layout.columns($0.token) }.max() ?? 0
        let room = layout.width - 4 * depth - indexWidth - 2 - (sizesWidth > 0 ? 2 + sizesWidth : 0)
        tokenWidth = min(longest, max(room, 12))
        self.layout = layout
    }

    /// The indentation of the working under a heading: under the token.
    var workingIndent: Int { indexWidth + 2 }

    /// Layer `number`'s heading (1-based), `sizes` after the padded token; a token too long
    /// for `tokenWidth` continues on lines of its own, two columns in from the token.
    func lines(number: Int, token: String, sizes: String? = nil) -> [String] {
        let pieces = LineFit.token(token, width: tokenWidth, layout: layout)
        var first = TextWrap.pad("\(number)", indexWidth) + "  " + pieces[0]
        if let sizes {
            first += String(repeating: " ", count: max(tokenWidth - layout.columns(pieces[0]), 0)) + "  " + sizes
        }
        let continuation = String(repeating: " ", count: workingIndent + 2)
        return [first] + pieces.dropFirst().map { continuation + $0 }
    }

    /// The deepest nesting of any layer in `tree` (0 without branches).
    static func depth<L, M>(_ tree: [StackResult<L, M>]) -> Int {
        StackTree.reduce(tree, layer: { _, _, depth in depth }, merge: { _, _, branches, depth in
            branches.joined().max() ?? depth
        }).max() ?? 0
    }
}
