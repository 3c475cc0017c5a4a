// swift-tools-version:5.9
// convcalc: a command-line convolution calculator. No package dependencies: toolchain only.
import PackageDescription

// The same kernel source compiled for newer x86-64 CPUs (Sources/ConvKernelsAVX*/TapSum.swift
// are symbolic links to Sources/ConvKernels/TapSum.swift). A plain build targets baseline
// x86-64 (SSE2); these copies use AVX2 + FMA and AVX-512 and run only where the CPU has them.
#if arch(x86_64)
let kernelVariants: [Target] = [
    .target(name: "ConvKernelsAVX2", swiftSettings: [.define("FUSED_MULTIPLY_ADD"), .unsafeFlags(["-target-cpu", "haswell"])]),
    // skylake-avx512 tunes for 256-bit vectors; dropping "prefer-256-bit" lets 8-lane SIMD use zmm.
    .target(name: "ConvKernelsAVX512", swiftSettings: [
        .define("FUSED_MULTIPLY_ADD"), .define("WIDE_REGISTERS"),
        .unsafeFlags(["-target-cpu", "skylake-avx512", "-Xcc", "-Xclang", "-Xcc", "-target-feature", "-Xcc", "-Xclang", "-Xcc", "-prefer-256-bit"]),
    ]),
]
#else
let kernelVariants: [Target] = []
#endif
let kernelTargets = ["ConvKernels"] + kernelVariants.map(\.name)

let package = Package(
    name: "convcalc",
    products: [
        .executable(name: "convcalc", targets: ["convcalc"]),
        .library(name: "ConvCalcCore", targets: ["ConvCalcCore"]),
    ],
    targets: [
        // Pure, I/O-free logic: layers, size arithmetic, formulas, solvers, the convolutions.
        .target(name: "ConvCalcCore", dependencies: kernelTargets.map { .target(name: $0) }),
        // The inner loop of `run` (one source file), once per instruction set; chosen at run time.
        .target(name: "ConvKernels"),
        // Argument parsing, commands, help and rendering. Writers are passed in.
        .target(name: "ConvCalcCLI", dependencies: ["ConvCalcCore"]),
        // A few lines: call ConvCalcCLI.run and exit.
        .executableTarget(name: "convcalc", dependencies: ["ConvCalcCLI"]),
        .testTarget(name: "ConvCalcCoreTests", dependencies: ["ConvCalcCore"]),
        .testTarget(name: "ConvCalcCLITests", dependencies: ["ConvCalcCLI", "ConvCalcCore"],
                    exclude: ["golden"]),
    ] + kernelVariants
)
