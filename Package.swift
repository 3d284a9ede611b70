// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "NormKit",
    products: [
        // The public library: tensors, kernels, the functional core and the layers.
        .library(name: "NormKit", targets: ["NormKit"]),
        // The command-line tool: `normkit demo`.
        .executable(name: "normkit", targets: ["normkit"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // Core library: builds with the toolchain alone.
        .target(name: "NormKit"),
        // The CLI, a thin shell over the library.
        .executableTarget(
            name: "normkit",
            dependencies: [
                "NormKit",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Test helpers shared by every test target: assertClose, a seeded RNG, fixtures, finite differences.

        .testTarget(
            name: "NormKitTests",
            dependencies: ["NormKit", "normkit"],
            resources: [.copy("Fixtures")]
        ),
    ]
)
