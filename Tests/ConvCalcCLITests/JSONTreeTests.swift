import Foundation
import XCTest

/// The `"tree"` of `shape`, `rf` and `params` JSON rebuilds the stack as written.
final class JSONTreeTests: XCTestCase {
    let stack = "conv:k=3,p=1,c=4 add { conv:k=3,p=1 concat { conv:k=1,c=2 } { conv:k=1,c=2 } } { } conv:k=3"

    /// The words of the stack, rebuilt from a tree: a layer by its token, a merge as `kind { … } { … }`.
    func rebuild(_ nodes: [Any], layers: [[String: Any]]) -> [String] {
        nodes.flatMap { node -> [String] in
            let object = node as! [String: Any]
            if let kind = object["merge"] as? String {
                let branches = object["branches"] as! [[Any]]
                return [kind] + branches.flatMap { ["{"] + rebuild($0, layers: layers) + ["}"] }
            }
            let index = object["index"] as! Int
            XCTAssertEqual(object["layer"] as? String, layers[index - 1]["layer"] as? String)
            return [object["layer"] as! String]
        }
    }

    func testTreeRebuildsTheNesting() throws {
        for command in ["shape --json --in 8", "rf --json", "params --json --cin 3 --in 8"] {
            let result = runCommandLine("convcalc \(command) \(stack)")
            XCTAssertEqual(result.status, 0, "\(command): \(result.stderr)")
            let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any], command)
            let layers = try XCTUnwrap(object["layers"] as? [[String: Any]], command)
            let tree = try XCTUnwrap(object["tree"] as? [Any], command)
            XCTAssertEqual(rebuild(tree, layers: layers).joined(separator: " "), stack, command)
            XCTAssertEqual((object["merges"] as? [Any])?.count, 2, command)
        }
    }

    /// A split's merge carries its shares in `merges` and `tree`: as given in shape and rf,
    /// as used in params (equal shares of known channels included).
    func testSplitCarriesItsShares() throws {
        let cases: [(String, String, [Int]?)] = [
            ("shape --json --in 8", "split:c=1x3 { conv:k=3,p=1 } { }", [1, 3]),
            ("rf --json", "split:c=1x3 { conv:k=3,p=1 } { }", [1, 3]),
            ("params --json --cin 4 --in 8", "split:c=1x3 { conv:k=3,p=1 } { }", [1, 3]),
            ("shape --json --in 8", "split { conv:k=3,p=1 } { }", nil),
            ("rf --json", "split { conv:k=3,p=1 } { }", nil),
            ("params --json --cin 4 --in 8", "split { conv:k=3,p=1 } { }", [2, 2]),
        ]
        for (command, stack, shares) in cases {
            let result = runCommandLine("convcalc \(command) \(stack)")
            XCTAssertEqual(result.status, 0, "\(command): \(result.stderr)")
            let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any], command)
            let merge = try XCTUnwrap((object["merges"] as? [[String: Any]])?.first, command)
            let node = try XCTUnwrap((object["tree"] as? [[String: Any]])?.first, command)
            XCTAssertEqual(merge["kind"] as? String, "split", command)
            XCTAssertEqual(node["merge"] as? String, "split", command)
            for found in [merge["shares"], node["shares"]] {
                XCTAssertEqual(found as? [Int], shares, "\(command) \(stack)")
                if shares == nil { XCTAssertTrue(found is NSNull, "\(command) \(stack): shares must be null") }
            }
        }
    }
}
