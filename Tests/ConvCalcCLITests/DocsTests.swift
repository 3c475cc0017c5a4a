import Foundation
import XCTest
@testable import ConvCalcCLI

/// The man page's OPTIONS, KEYS and LAYER TYPES and the README's key table are generated
/// from the tables (`make docs`); regenerating them must change nothing, byte for byte.
final class DocsTests: XCTestCase {
    func testGeneratedPartsAreUpToDate() throws {
        for (path, document) in [("man/convcalc.1", Docs.Document.man), ("README.md", .readme)] {
            let text = try String(contentsOfFile: packageRoot + "/" + path, encoding: .utf8)
            let regenerated = try Docs.update(text, document)
            if regenerated != text {
                let old = text.split(separator: "\n", omittingEmptySubsequences: false)
                let new = regenerated.split(separator: "\n", omittingEmptySubsequences: false)
                let line = zip(old, new).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(old.count, new.count)
                XCTFail("\(path) is out of date from line \(line + 1) (run 'make docs'): "
                        + "has '\(line < old.count ? old[line] : "")', expected '\(line < new.count ? new[line] : "")'")
            }
        }
    }

    func testMissingMarkersAreReported() {
        XCTAssertThrowsError(try Docs.update("no markers\n", .readme))
    }

    /// Roff control characters and hyphens in generated text are escaped.
    func testRoffEscaping() {
        XCTAssertEqual(Docs.roff(".x -y \\z 3×3"), "\\&.x \\-y \\ez 3\\(mu3")
    }
}
