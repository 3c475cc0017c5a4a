import XCTest
@testable import ConvCalcCore

/// The block language (issue #16): repeat, def and uses, include, arithmetic in values.
final class StackExpansionTests: XCTestCase {
    func expand(_ text: String, files: [String: String] = [:]) throws -> [StackWord] {
        try StackExpansion.expand(StackSyntax.words(ofFile: text, name: "main.net"), file: "main.net") { path, _ in
            guard let text = files[path] else { throw LayerError.conflict("no file \(path)") }
            return (path, StackSyntax.words(ofFile: text, name: path))
        }
    }

    /// A plain file (nothing to expand) is held to the same 10^6 words as an expansion (a
    /// file of millions of lines took minutes and gigabytes), and a megabyte-long word is
    /// not scored against every layer name for a suggestion.
    func testPlainFilesAndLongWordsAreBounded() throws {
        let words = Array(repeating: StackWord("relu", location: "big.net:1:1"), count: StackExpansion.maximumLayers + 1)
        XCTAssertThrowsError(try StackExpansion.expand(words, file: "big.net") { path, _ in (path, []) })
        XCTAssertEqual(try StackExpansion.expand(Array(words.dropLast()), file: "big.net") { path, _ in (path, []) }.count, StackExpansion.maximumLayers)
        let long = String(repeating: "a", count: 200_000)
        XCTAssertNil(NameSuggestion.nearest(to: long, among: LayerType.allCases.map(\.rawValue)))
        XCTAssertEqual(NameSuggestion.nearest(to: "cnov", among: LayerType.allCases.map(\.rawValue)), "conv")
    }

    func testArithmetic() {
        XCTAssertEqual(Arithmetic.evaluate("2+3*4"), 14)
        XCTAssertEqual(Arithmetic.evaluate("(2+3)*4"), 20)
        XCTAssertEqual(Arithmetic.evaluate("7/2"), 3)
        XCTAssertEqual(Arithmetic.evaluate("-7/2"), -4)         // rounds down, as Python's //
        XCTAssertEqual(Arithmetic.evaluate("7//2"), 3)
        XCTAssertEqual(Arithmetic.evaluate("−3+1"), -2)         // the typeset minus
        XCTAssertNil(Arithmetic.evaluate("1/0"))
        XCTAssertNil(Arithmetic.evaluate("9223372036854775807+1"))
        XCTAssertNil(Arithmetic.evaluate("(1"))
        XCTAssertNil(Arithmetic.evaluate("c*2"))
        XCTAssertNil(Arithmetic.evaluate(String(repeating: "(", count: 100) + "1" + String(repeating: ")", count: 100)))
    }

    func testBlocksRepeatsAndOrigins() throws {
        let words = try expand("""
            def block(c, s) { conv:k=3,s=s,p=(3-1)/2,c=c*2 }
            repeat 2 { block(8, 1) }
            def wide(k) { conv:k=(k)x1 conv:k=kxk }
            wide(5)
            """)
        XCTAssertEqual(words.map(\.text), ["conv:k=3,s=1,p=1,c=16", "conv:k=3,s=1,p=1,c=16", "conv:k=5x1", "conv:k=5x5"])
        XCTAssertEqual(words[1].origin, ["repeat 2/2", "block(8,1)"])
        XCTAssertEqual(words[0].location, "main.net:1:19")   // where the layer is written, in the block
        XCTAssertEqual(try expand("repeat 0 { relu } bn").map(\.text), ["bn"])
    }

    func testParametersAreReplacedOnlyWhereTheyStand() throws {
        // `c` is a key and a parameter: only the value changes; a type passed as an argument.
        XCTAssertEqual(try expand("def b(c, act) { conv:k=3,c=c act } b(4, relu)").map(\.text), ["conv:k=3,c=4", "relu"])
        XCTAssertEqual(try expand("def b(x) { conv:k=1 x } b((se:r=4,div=8))").map(\.text), ["conv:k=1", "se:r=4,div=8"])
    }

    /// An argument per dimension in arithmetic is worked out per dimension (a bug found while
    /// writing Inception v3: `p=k/2` with `k=1x7` gave `1x3`).
    func testPerDimensionArguments() throws {
        XCTAssertEqual(try expand("def f(k) { conv:k=k,p=k/2 } f(1x7) f(3)").map(\.text), ["conv:k=1x7,p=0x3", "conv:k=3,p=1"])
        XCTAssertEqual(try expand("def g(k) { conv:k=k,p=k*2 } g(3x5)").map(\.text), ["conv:k=3x5,p=6x10"])
        XCTAssertEqual(try expand("def w(k) { conv:k=1xk,p=0x(k/2) } w(7)").map(\.text), ["conv:k=1x7,p=0x3"])
        XCTAssertThrowsError(try expand("def h(k) { conv:k=(k)x1,p=k/2 } h(3x5)"))
        XCTAssertThrowsError(try expand("def h(a, b) { conv:k=a+b } h(3x5, 1x2x3)"))
    }

    func testIncludes() throws {
        let files = ["blocks.net": "def unit { relu }", "loop.net": "include main.net", "main.net": "include loop.net"]
        XCTAssertEqual(try expand("include blocks.net unit unit", files: files).map(\.text), ["relu", "relu"])
        XCTAssertThrowsError(try expand("include loop.net", files: files)) { error in
            XCTAssertTrue((error as? UserFacingError)?.message.contains("includes itself") == true, "\(error)")
        }
    }

    func testMistakes() {
        func message(_ text: String) -> String {
            do { _ = try expand(text); return "" } catch { return (error as? UserFacingError)?.message ?? "\(error)" }
        }
        XCTAssertTrue(message("def a { b } def b { a } a").contains("uses itself (a → b → a)"))
        XCTAssertTrue(message("blk(1) def blok(c) { relu }").contains("did you mean 'blok'"))
        XCTAssertTrue(message("def b(c) { relu } b(1, 2)").contains("takes 1 argument (c), not 2"))
        XCTAssertTrue(message("def b(c, c) { relu }").contains("named twice"))
        XCTAssertTrue(message("add { def b { relu } } { }").contains("inside braces"))
        XCTAssertTrue(message("repeat 3 relu").contains("must be followed by its layers in braces"))
        XCTAssertTrue(message("repeat 1000 { repeat 1000 { repeat 1000 { } } }").contains("repeat fewer times"))
        XCTAssertTrue(message("def relu { bn }").contains("already a word"))
    }
}
