import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import XCTest
@testable import ConvCalcCLI
import ConvCalcCore
import ConvCalcTestSupport

/// The SVG elements of a document, in order, with their attributes and parents.
final class SVGTree: NSObject, XMLParserDelegate {
    struct Element {
        let name: String
        let attributes: [String: String]
        let parent: Int?
        var children: [Int] = []
        subscript(_ key: String) -> String? { attributes[key] }
        func int(_ key: String) -> Int? { attributes[key].flatMap { Int($0) } }
    }

    private(set) var elements: [Element] = []
    private var open: [Int] = []

    /// Nil unless the text is well-formed XML with an `svg` root in the SVG namespace: on Linux,
    /// `XMLParser.parse()` returns true for some broken documents, with the error only in
    /// `parserError`, and for the empty one with none (`Tests/fixtures/draw_notes.md` §5).
    static func parse(_ text: String) -> SVGTree? {
        let tree = SVGTree()
        let parser = XMLParser(data: Data(text.utf8))
        parser.delegate = tree
        guard parser.parse(), parser.parserError == nil, let root = tree.elements.first, root.name == "svg",
              root["xmlns"] == "http://www.w3.org/2000/svg", tree.elements.count > 1 else { return nil }
        return tree
    }

    func parser(_ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?, qualifiedName: String?,
                attributes: [String: String] = [:]) {
        elements.append(Element(name: elementName, attributes: attributes, parent: open.last))
        if let parent = open.last { elements[parent].children.append(elements.count - 1) }
        open.append(elements.count - 1)
    }

    func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName: String?) {
        open.removeLast()
    }

    func all(_ name: String, className: String? = nil) -> [Element] {
        elements.filter { $0.name == name && (className == nil || ($0["class"] ?? "").split(separator: " ").contains(Substring(className!))) }
    }

    func element(id: String) -> Element? { elements.first { $0["id"] == id } }
}

/// One axis of a layer as the tests see it, with the arithmetic written out again here
/// (PyTorch's formulas, `Tests/fixtures/draw_notes.md` R1–R7), not taken from convcalc.
struct TestAxis {
    enum Kind: String { case conv, maxpool, avgpool, tconv }
    var kind: Kind
    var n: Int, k: Int, s: Int, d: Int, pb: Int, pa: Int, op = 0, ceil = false

    var ke: Int { d * (k - 1) + 1 }

    /// The output size, or below 1 when there is none.
    var output: Int {
        if kind == .tconv { return (n - 1) * s - pb - pa + ke + op }
        let span = n + pb + pa - ke
        guard ceil else { return span < 0 ? 0 : span / s + 1 }
        // Ceiling division, also below zero: a window wider than the padded input still gives
        // one output in ceil mode (PyTorch: max_pool1d(k=5, s=4, ceil_mode=True) of 3 values).
        var out = (span >= 0 ? (span + s - 1) / s : -(-span / s)) + 1
        if (out - 1) * s >= n + pb { out -= 1 }   // ATen: the last window may not start in the right padding
        return out
    }

    /// The longest grid the views draw along this axis: the padded (or zero-inserted and
    /// padded) input, or the full transposed result.
    var longestGrid: Int {
        if kind == .tconv { return max(output + ke - 1, (n - 1) * s + ke, pb + output) }
        return max(pb + n + pa, (output - 1) * s + ke)
    }

    /// Frames of a view: outputs, or inputs in the scatter view.
    func frames(scatter: Bool) -> Int { scatter ? n : output }

    /// Frame `f`'s taps in the layer's coordinates: input positions (direct), stretched
    /// positions of the zero-inserted input (transposed, window view), output positions (scatter).
    func taps(_ f: Int, scatter: Bool) -> [Int] {
        (0..<k).map { t in
            switch (kind, scatter) {
            case (.tconv, false): return f - (ke - 1 - pb) + t * d
            default: return f * s - pb + t * d
            }
        }
    }
}

final class DrawingTests: XCTestCase {
    /// The windows and marks an SVG draws, as layer coordinates read back from the geometry:
    /// per frame (by its subject), the cells under each tap rectangle and the marked cell.
    struct DrawnFrame {
        var subject: [Int]
        var taps: [[Int]]
        var dataTaps: [[Int]]
        var mark: [Int]
    }

    static func numbers(_ text: String) -> [Int] { text.split(separator: ",").map { Int($0)! } }

    /// Every frame of every window in `tree`: a static frame, or each step of an animated one.
    static func drawnFrames(_ tree: SVGTree, dims: Int) -> [String: [DrawnFrame]] {
        var result: [String: [DrawnFrame]] = [:]
        for frame in tree.all("g", className: "frame") where !(frame["class"] ?? "").contains("composite") {
            let view = frame["data-view"]!
            let children = frame.children.map { tree.elements[$0] }
            let grids = Dictionary(uniqueKeysWithValues: children.filter { $0.name == "use" && $0["class"] == "grid" }.map { ($0["data-role"]!, $0) })
            guard let window = children.first(where: { $0.name == "use" && $0["class"] == "window" }),
                  let mark = children.first(where: { $0.name == "rect" && $0["class"] == "mark" }) else { continue }
            let shape = tree.element(id: String(window["href"]!.dropFirst()))!
            let tapRects = shape.children.map { tree.elements[$0] }.filter { $0["class"] == "tap" }
            let on = grids[window["data-on"]!]!, other = grids[window["data-on"] == "source" ? "target" : "source"]!
            func translations(_ element: SVGTree.Element) -> [(Int, Int)] {
                guard let animation = element.children.map({ tree.elements[$0] }).first(where: { $0.name == "animateTransform" }) else { return [(0, 0)] }
                return animation["values"]!.split(separator: ";").map { let v = numbers(String($0)); return (v[0], v[1]) }
            }
            let windowMoves = translations(window), markMoves = translations(mark)
            func cell(_ grid: SVGTree.Element, x: Int, y: Int) -> [Int] {
                let size = grid.int("data-cell")!, origin = numbers(grid["data-origin"]!)
                let column = (x - grid.int("data-x")!) / size + origin[origin.count - 1]
                let row = (y - grid.int("data-y")!) / size + (dims == 2 ? origin[0] : 0)
                return dims == 2 ? [row, column] : row == 0 ? [column] : [row, column]   // 1-D: the one row only
            }
            for (step, move) in windowMoves.enumerated() {
                let taps = tapRects.map { cell(on, x: window.int("x")! + $0.int("x")! + move.0, y: window.int("y")! + $0.int("y")! + move.1) }
                let markMove = markMoves[step]
                let marked = cell(other, x: mark.int("x")! + markMove.0, y: mark.int("y")! + markMove.1)
                // The mark's cell counted from the grid's first cell, not in layer coordinates.
                let origin = numbers(other["data-origin"]!)
                let subject = zip(marked, dims == 2 ? origin : [origin.last!]).map { $0 - $1 }
                let dataTaps = windowMoves.count == 1 ? window["data-taps"]!.split(separator: " ").map { numbers(String($0)) } : []
                result[view, default: []].append(DrawnFrame(subject: subject, taps: taps, dataTaps: dataTaps, mark: marked))
            }
        }
        return result
    }

    /// A token for `axes` (one or two), as a user would write it.
    static func token(_ axes: [TestAxis]) -> String {
        func join(_ values: [Int]) -> String { Set(values).count == 1 ? "\(values[0])" : values.map(String.init).joined(separator: "x") }
        let kind = axes[0].kind
        var keys = ["k=" + join(axes.map(\.k)), "s=" + join(axes.map(\.s))]
        keys.append("p=" + axes.map { "\($0.pb):\($0.pa)" }.joined(separator: "x"))
        if axes.contains(where: { $0.d > 1 }) { keys.append("d=" + join(axes.map(\.d))) }
        if kind == .tconv, axes.contains(where: { $0.op > 0 }) { keys.append("op=" + join(axes.map(\.op))) }
        if axes[0].ceil { keys.append("ceil=1") }
        return kind.rawValue + ":" + keys.joined(separator: ",")
    }

    static func randomAxis(_ kind: TestAxis.Kind, _ g: inout SeededGenerator) -> TestAxis {
        let k = Int.random(in: 1...5, using: &g), s = Int.random(in: 1...4, using: &g), n = Int.random(in: 1...12, using: &g)
        switch kind {
        case .conv:
            return TestAxis(kind: kind, n: n, k: k, s: s, d: Int.random(in: 1...3, using: &g), pb: Int.random(in: 0...4, using: &g), pa: Int.random(in: 0...4, using: &g))
        case .maxpool, .avgpool:
            let p = Int.random(in: 0...(k / 2), using: &g)
            return TestAxis(kind: kind, n: n, k: k, s: s, d: kind == .maxpool ? Int.random(in: 1...2, using: &g) : 1, pb: p, pa: p)
        case .tconv:
            let d = Int.random(in: 1...3, using: &g)
            let p = Int.random(in: 0...(d * (k - 1)), using: &g)
            return TestAxis(kind: kind, n: n, k: k, s: s, d: d, pb: p, pa: p, op: Int.random(in: 0..<max(s, d), using: &g))
        }
    }

    /// Checks every frame drawn for `axes` against the formulas, for the views drawn.
    func check(_ axes: [TestAxis], svg: String, command: String, animated: Bool = false, file: StaticString = #filePath, line: UInt = #line) {
        guard let tree = SVGTree.parse(svg) else { return XCTFail("not a well-formed SVG: \(command)", file: file, line: line) }
        let drawn = Self.drawnFrames(tree, dims: axes.count)
        let views = axes[0].kind == .tconv ? ["window", "scatter"] : ["window"]
        XCTAssertEqual(Set(drawn.keys), Set(views), command, file: file, line: line)
        for view in views {
            let scatter = view == "scatter"
            let frames = drawn[view] ?? []
            let expectedCount = axes.reduce(1) { $0 * $1.frames(scatter: scatter) }
            XCTAssertEqual(frames.count, animated ? expectedCount : min(expectedCount, ShapeDrawing.frameLimit), "\(view): \(command)", file: file, line: line)
            for frame in frames {
                let perAxis = zip(axes, frame.subject).map { $0.taps($1, scatter: scatter) }
                let expected = perAxis.count == 1 ? perAxis[0].map { [$0] } : perAxis[0].flatMap { r in perAxis[1].map { [r, $0] } }
                XCTAssertEqual(frame.taps, expected, "\(view) frame \(frame.subject): \(command)", file: file, line: line)
                if !frame.dataTaps.isEmpty { XCTAssertEqual(frame.dataTaps, expected, "data-taps \(view) \(frame.subject): \(command)", file: file, line: line) }
            }
        }
    }

    /// Random layers of every kind, 1-D and 2-D (non-square, asymmetric padding, ceil mode,
    /// output padding): every window of the sheet and of the animation sits where the
    /// arithmetic puts it, and the layer is refused exactly when it has no output.
    func testEveryWindowSitsWhereTheArithmeticSays() {
        var g = SeededGenerator(seed: testSeed)
        var drawnCount = 0
        for _ in 0..<(longTests ? 2000 : 160) {
            let kind = [TestAxis.Kind.conv, .maxpool, .avgpool, .tconv].randomElement(using: &g)!
            let dims = Int.random(in: 1...2, using: &g)
            let ceil = kind != .conv && kind != .tconv && Bool.random(using: &g)
            let axes = (0..<dims).map { _ -> TestAxis in var a = Self.randomAxis(kind, &g); a.ceil = ceil; return a }
            let command = "convcalc shape --draw svg \(Self.token(axes)) --in \(axes.map { String($0.n) }.joined(separator: "x"))" + (dims == 1 ? " --dims 1" : "")
            let (out, err, status) = runCommandLine(command)
            guard axes.allSatisfy({ $0.output >= 1 }) else {
                XCTAssertEqual(status, 1, "no output, so no drawing: \(command) \(seedNote)")
                XCTAssertEqual(out, "")
                continue
            }
            guard axes.allSatisfy({ $0.longestGrid <= ShapeDrawing.cellLimit }) else {
                XCTAssertEqual(status, 1, "a grid past the limit: \(command) \(seedNote)")
                XCTAssertTrue(err.contains("too large to read"), err)
                continue
            }
            XCTAssertEqual(status, 0, "\(command): \(err) \(seedNote)")
            check(axes, svg: out, command: command + " " + seedNote)
            let (animated, err2, status2) = runCommandLine(command + " --animate")
            XCTAssertEqual(status2, 0, "\(command) --animate: \(err2)")
            check(axes, svg: animated, command: command + " --animate " + seedNote, animated: true)
            drawnCount += 1
        }
        XCTAssertGreaterThan(drawnCount, 80, seedNote)
    }

    /// The windows PyTorch computes (`Tests/fixtures/draw_windows.tsv`, made by
    /// `draw_reference.py --emit` with autograd and one-hot probes): every 1-D case drawn.
    func testWindowsMatchPyTorch() throws {
        let text = try String(contentsOfFile: packageRoot + "/Tests/fixtures/draw_windows.tsv", encoding: .utf8)
        var cases = 0
        for line in text.split(separator: "\n").dropFirst() {
            let f = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            let (n, k, s, pb, pa, d, out) = (Int(f[1])!, Int(f[2])!, Int(f[3])!, Int(f[4])!, Int(f[5])!, Int(f[6])!, Int(f[8])!)
            let windows = f[9].split(separator: " ").map { $0.split(separator: ",").map { [Int($0)!] } }
            var token = "\(f[0]):k=\(k),s=\(s),p=\(pb):\(pa),d=\(d)"
            if !f[7].isEmpty { token += "," + f[7] }
            let (svg, err, status) = runCommandLine("convcalc shape --draw svg --view window --dims 1 --in \(n) \(token)")
            XCTAssertEqual(status, 0, "\(token) on \(n): \(err)")
            guard let tree = SVGTree.parse(svg) else { XCTFail("not an SVG: \(token)"); continue }
            let frames = Self.drawnFrames(tree, dims: 1)["window"] ?? []
            XCTAssertEqual(frames.count, min(out, ShapeDrawing.frameLimit), "\(token) on \(n)")
            for frame in frames {
                XCTAssertEqual(frame.taps, windows[frame.subject[0]], "\(token) on \(n), output \(frame.subject[0])")
                XCTAssertEqual(frame.dataTaps, windows[frame.subject[0]], "\(token) on \(n), output \(frame.subject[0])")
            }
            cases += 1
        }
        XCTAssertGreaterThan(cases, 300)
    }

    /// conv_arithmetic's figures, drawn: the odd transposed case of issue #11 has its extra
    /// zero row and column at the bottom and right (PyTorch output_padding), not the top.
    func testOddTransposedPaddingGoesAfter() {
        let (svg, _, status) = runCommandLine("convcalc shape --draw svg --view window --in 3 tconv:k=3,s=2,p=1,op=1")
        XCTAssertEqual(status, 0)
        let tree = SVGTree.parse(svg)!
        let grid = tree.element(id: "v0-source")!.children.map { tree.elements[$0] }
        XCTAssertEqual(grid.count, 64)   // 8×8: 1 + 5 + 2 per axis
        let inputs = grid.filter { ($0["class"] ?? "").contains("input") }.map { [$0.int("y")! / 20, $0.int("x")! / 20] }
        XCTAssertEqual(inputs, [[1, 1], [1, 3], [1, 5], [3, 1], [3, 3], [3, 5], [5, 1], [5, 3], [5, 5]])
    }

    /// What is refused, with the exit status of SPEC §1, and never a huge file.
    func testBadRequests() {
        let cases: [(String, Int32, String)] = [
            ("convcalc shape --draw --in 1000 conv:k=3", 1, "too large to read"),
            ("convcalc shape --draw --in 5 conv:k=3 --cell 3,0", 1, "the output is 3×3"),
            ("convcalc shape --draw --in 5 conv:k=3 --cell 1", 2, "ROW,COLUMN"),
            ("convcalc shape --draw --in 5 conv:k=3 conv:k=3", 2, "--draw draws one layer; this stack has 2 layers"),
            ("convcalc shape --draw --animate --in 5 conv:k=3", 2, "--animate makes an animated SVG"),
            ("convcalc shape --cell 1,1 --in 5 conv:k=3", 2, "--cell shapes a drawing; give --draw too"),
            ("convcalc shape --draw svg --view scatter --in 5 conv:k=3", 1, "scatter view draws a transposed convolution"),
            ("convcalc shape --draw --in 5 bn", 1, "slides no window"),
            ("convcalc shape --draw --in 8 conv:k=3 --dims 3", 1, "1-D and 2-D"),
            ("convcalc shape --draw -q --in 5 conv:k=3", 2, "--draw prints a picture"),
            ("convcalc shape --draw pdf --in 5 conv:k=3", 0, ""),   // pdf is no format: a layer token, then refused as one
            ("convcalc rf --draw svg --json conv:k=3", 2, "--draw prints a picture"),
            ("convcalc run --draw svg --as-matrix '[1 2;3 4]' '[1]'", 2, "give --draw or --as-matrix"),
        ]
        for (command, status, words) in cases {
            let (out, err, got) = runCommandLine(command)
            if command.contains("pdf") {
                XCTAssertNotEqual(got, 0, command)
                continue
            }
            XCTAssertEqual(got, status, "\(command): \(err)")
            XCTAssertEqual(out, "", command)
            XCTAssertTrue(err.contains(words), "\(command): \(err)")
            XCTAssertEqual(err.filter { $0 == "\n" }.count, 1, "one line: \(err)")
        }
    }

    /// The largest grid allowed makes a file of reasonable size, and a sheet's frames are cut
    /// at the limit with a note.
    func testLargestDrawingsStaySmall() {
        for command in ["convcalc shape --draw svg --in 62 conv:k=3", "convcalc shape --draw svg --in 34 conv:k=32,d=2,p=15",
                        "convcalc shape --draw svg --animate --in 62 conv:k=3", "convcalc shape --draw svg --composite --in 62 conv:k=3",
                        "convcalc shape --draw svg --in 29 tconv:k=4,s=2", "convcalc shape --draw svg --animate --in 29 tconv:k=4,s=2"] {
            let (out, err, status) = runCommandLine(command)
            XCTAssertEqual(status, 0, "\(command): \(err)")
            XCTAssertNotNil(SVGTree.parse(out), command)
            XCTAssertLessThan(out.utf8.count, 2_000_000, command)
        }
        let (out, _, _) = runCommandLine("convcalc shape --draw svg --in 12 conv:k=3")
        XCTAssertTrue(out.contains("the first 64 of 100 frames are drawn"))
        let (text, _, _) = runCommandLine("convcalc shape --draw --in 62 conv:k=3")
        XCTAssertLessThan(text.utf8.count, 400_000)
        XCTAssertTrue(text.contains("note: the first 5 of 3600 frames are drawn"), text.suffix(300).description)
    }

    /// The heat map's cells carry the counts `rf --json` gives, holes white.
    func testHeatMapCountsAreTheReceptiveFieldsCounts() {
        let layers = "conv:k=3,d=2 conv:k=3,d=2 conv:k=3,d=2"
        let (svg, _, status) = runCommandLine("convcalc rf --map --draw svg \(layers) --no-warnings")
        XCTAssertEqual(status, 0)
        let tree = SVGTree.parse(svg)!
        let cells = tree.all("g", className: "heat")[0].children.map { tree.elements[$0] }
        let profile = [1, 0, 3, 0, 6, 0, 7, 0, 6, 0, 3, 0, 1]   // README: paths per position along each axis
        XCTAssertEqual(cells.count, 169)
        for (index, cell) in cells.enumerated() {
            let count = profile[index / 13] * profile[index % 13]
            XCTAssertEqual(cell["data-n"], "\(count)")
            XCTAssertEqual(cell["fill"] == "#ffffff", count == 0)
        }
    }

    /// `run --explain --draw svg` draws the terms `run --explain` writes: the cells read and
    /// the weight each is multiplied by.
    func testRunDrawingShowsTheTerms() {
        let (svg, err, status) = runCommandLine("convcalc run --explain --draw svg --p 1 --at 1,1 '[1 2 3;4 5 6;7 8 9]' '[1 2;3 4]'")
        XCTAssertEqual(status, 0, err)
        let tree = SVGTree.parse(svg)!
        let texts = tree.all("text").count
        XCTAssertGreaterThan(texts, 40)
        XCTAssertTrue(svg.contains("y[1, 1] = 1·1 + 2·2 + 4·3 + 5·4 = 37"))
        XCTAssertEqual(svg.components(separatedBy: "class=\"value weight\"").count - 1, 4)
        XCTAssertEqual(svg.components(separatedBy: "class=\"mark\"").count - 1, 5)   // 4 taps and the output element
    }

    /// Colour only on a terminal, and not with NO_COLOR or TERM=dumb.
    func testColourOnlyOnATerminal() {
        XCTAssertTrue(Terminal.colour(environment: [:], terminal: true))
        XCTAssertFalse(Terminal.colour(environment: [:], terminal: false))
        XCTAssertFalse(Terminal.colour(environment: ["NO_COLOR": "1"], terminal: true))
        XCTAssertTrue(Terminal.colour(environment: ["NO_COLOR": ""], terminal: true))
        XCTAssertFalse(Terminal.colour(environment: ["TERM": "dumb"], terminal: true))
        final class TerminalSink: TextSink {
            var text = ""
            func write(_ text: String) { self.text += text }
            var terminalWidth: Int? { 100 }
        }
        for (environment, coloured) in [([String: String](), true), (["NO_COLOR": "1"], false)] {
            let out = TerminalSink(), err = StringSink()
            XCTAssertEqual(ConvCalcCLI.run(["shape", "--draw", "--in", "5", "conv:k=3", "--cell", "0,0"], stdin: StringInput(""), stdout: out, stderr: err,
                                           environment: environment), 0)
            XCTAssertEqual(out.text.contains("\u{1B}[1;33m■\u{1B}[0m"), coloured, "\(environment)")
            XCTAssertEqual(out.text.contains("\u{1B}["), coloured)
        }
        let (plain, _, _) = runCommandLine("convcalc shape --draw --in 5 conv:k=3 --cell 0,0")
        XCTAssertFalse(plain.contains("\u{1B}"))
    }

    /// Every picture of the gallery (`examples/gallery/gallery.txt`) is what convcalc makes
    /// now, byte for byte, and a well-formed SVG (`sh examples/gallery/make.sh` remakes them).
    func testGalleryIsCurrent() throws {
        let list = try String(contentsOfFile: packageRoot + "/examples/gallery/gallery.txt", encoding: .utf8)
        let index = try String(contentsOfFile: packageRoot + "/examples/gallery/README.md", encoding: .utf8)
        var count = 0
        for line in list.split(separator: "\n") where !line.hasPrefix("#") {
            let file = String(line.prefix { $0 != " " })
            let command = line.dropFirst(file.count).drop { $0 == " " }
            let (out, err, status) = runCommandLine(command + " --no-warnings")
            XCTAssertEqual(status, 0, "\(command): \(err)")
            let stored = try String(contentsOfFile: packageRoot + "/examples/gallery/" + file, encoding: .utf8)
            XCTAssertTrue(out == stored, "examples/gallery/\(file) is out of date: run sh examples/gallery/make.sh")
            XCTAssertNotNil(SVGTree.parse(stored), file)
            XCTAssertTrue(index.contains("(\(file))"), "examples/gallery/README.md does not show \(file)")
            count += 1
        }
        XCTAssertGreaterThan(count, 20)
    }
}
