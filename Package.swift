// swift-tools-version:5.9
// convcalc: a command-line convolution calculator. No package dependencies: toolchain only.
import PackageDescription

let package = Package(
    name: "convcalc",
    products: [
        .executable(name: "convcalc", targets: ["convcalc"]),
        .library(name: "ConvCalcCore", targets: ["ConvCalcCore"]),
    ],
    targets: [
        // Pure, I/O-free logic: layers, size arithmetic, formulas, solvers.
        .target(name: "ConvCalcCore"),
        // Argument parsing, commands, help and rendering. Writers are passed in.
        .target(name: "ConvCalcCLI", dependencies: ["ConvCalcCore"]),
        // A few lines: call ConvCalcCLI.run and exit.
        .executableTarget(name: "convcalc", dependencies: ["ConvCalcCLI"]),
        .testTarget(name: "ConvCalcCoreTests", dependencies: ["ConvCalcCore"]),
        .testTarget(name: "ConvCalcCLITests", dependencies: ["ConvCalcCLI", "ConvCalcCore"],
                    exclude: ["golden"]),
    ]
)
