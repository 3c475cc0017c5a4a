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
        // The pure arithmetic as a library: no unsafe code, no threads, no unsafeFlags.
        .library(name: "ConvCalcCore", targets: ["ConvCalcCore"]),
    ],
    targets: [
        // Pure integer logic: layers, stacks, sizes, formulas, solvers, receptive fields, costs.
        .target(name: "ConvCalcCore"),
        // The convolution itself: plans, the method and memory choice, reference loops, direct
        // and Fourier methods, threads; all unsafe code. The inner loop once per instruction set.
        .target(name: "ConvCalcEngine", dependencies: ["ConvCalcCore"] + kernelTargets.map { .target(name: $0) }),
        .target(name: "ConvKernels"),
        // Text in and out: the decimal parser, the number printer, the matrix reader.
        .target(name: "ConvCalcText", dependencies: ["ConvCalcCore", "ConvCalcEngine"]),
        // ONNX models read as networks: a protocol-buffer decoder and the operators as layers.
        .target(name: "ConvCalcONNX", dependencies: ["ConvCalcCore"]),
        // Argument parsing, commands, help and rendering. Writers are passed in.
        .target(name: "ConvCalcCLI", dependencies: ["ConvCalcCore", "ConvCalcEngine", "ConvCalcText", "ConvCalcONNX"]),
        // A few lines: call ConvCalcCLI.run and exit.
        .executableTarget(name: "convcalc", dependencies: ["ConvCalcCLI"]),
        // What the test targets share: the seeded generator and random geometries.
        .target(name: "ConvCalcTestSupport", dependencies: ["ConvCalcCore", "ConvCalcEngine"], path: "Tests/Support"),
        .testTarget(name: "ConvCalcCoreTests", dependencies: ["ConvCalcCore", "ConvCalcEngine", "ConvCalcText", "ConvCalcONNX", "ConvCalcTestSupport"]),
        .testTarget(name: "ConvCalcCLITests", dependencies: ["ConvCalcCLI", "ConvCalcCore", "ConvCalcEngine", "ConvCalcText", "ConvCalcTestSupport"],
                    exclude: ["golden"]),
    ] + kernelVariants
)
