// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "NormKit",
    products: [
        // The public library: tensors, kernels, the functional core and the layers.
        .library(name: "NormKit", targets: ["NormKit"]),
        // The command-line tool: `normkit demo`, `normkit lab`.
        .executable(name: "normkit", targets: ["normkit"]),
        // The training lab: a small CNN stack (Conv2d, Linear, pools, loss, SGD) and the
        // `normkit lab` experiment, built on NormKit's layers; not part of the core library.
        .library(name: "NormKitLab", targets: ["NormKitLab"]),
        // MPIProcessGroup over Open MPI; opt in with the `MPI` trait.
        .library(name: "NormKitMPI", targets: ["NormKitMPI"]),
        // Checks SyncBatchNorm = BatchNorm under `mpirun -np K`; needs the `MPI` trait.
        .executable(name: "normkit-mpi-check", targets: ["normkit-mpi-check"]),
    ],
    // `swift build --traits MPI` builds the Open MPI backend (needs `libopenmpi-dev`); without
    // the trait NormKitMPI and normkit-mpi-check compile to empty shells and nothing needs MPI.
    traits: [
        .trait(name: "MPI", description: "MPIProcessGroup over Open MPI (libopenmpi-dev, found with pkg-config ompi)"),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // `swift package generate-documentation` (scripts/build-docs.sh); a plugin only, so
        // nothing of it is linked into NormKit.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        // Core library: builds with the toolchain alone. Its element loops are C
        // (CNormKitKernels), compiled for the baseline, AVX2 and AVX-512 with `target`
        // attributes and chosen at run time: no compiler flags, so SwiftPM accepts the package
        // as a dependency.
        .target(name: "CNormKitKernels"),
        .target(name: "NormKit", dependencies: ["CNormKitKernels"]),
        // The MPI backend, behind the `MPI` trait: a system library for <mpi.h> and libmpi, a
        // tiny C shim for the handles that are macros (MPI_COMM_WORLD, MPI_DOUBLE, MPI_SUM, …),
        // and the Swift library. Every target dependency on MPI is conditional on the trait.
        .systemLibrary(
            name: "CMPI",
            pkgConfig: "ompi",
            providers: [.apt(["libopenmpi-dev", "openmpi-bin"])]
        ),
        .target(
            name: "CMPIShim",
            dependencies: [.target(name: "CMPI", condition: .when(traits: ["MPI"]))]
        ),
        .target(
            name: "NormKitMPI",
            dependencies: [
                "NormKit",
                .target(name: "CMPI", condition: .when(traits: ["MPI"])),
                .target(name: "CMPIShim", condition: .when(traits: ["MPI"])),
            ]
        ),
        .executableTarget(
            name: "normkit-mpi-check",
            dependencies: [
                "NormKit",
                .target(name: "NormKitMPI", condition: .when(traits: ["MPI"])),
                .target(name: "CMPI", condition: .when(traits: ["MPI"])),
                .target(name: "CMPIShim", condition: .when(traits: ["MPI"])),
            ]
        ),
        // The training lab, with the UCI digits data set as a resource (scripts/make_digits.py).
        .target(
            name: "NormKitLab",
            dependencies: ["NormKit"],
            resources: [.copy("Resources/digits.nkimg")]
        ),
        // `normkit bench --bare-pass`: the least work that moves a case's bytes, in C for its
        // streamed stores; the CLI's alone, not the library's.
        .target(name: "CBarePass"),
        // The CLI, a thin shell over the libraries. `normkit lab --backend mpi` needs the `MPI` trait.
        .executableTarget(
            name: "normkit",
            dependencies: [
                "NormKit",
                "NormKitLab",
                "CBarePass",
                .target(name: "NormKitMPI", condition: .when(traits: ["MPI"])),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Test helpers (assertClose, a seeded RNG, fixtures, finite differences) live in
        // Tests/NormKitTests/Support.
        // assertClose, Tolerance and assertThrows, shared by both test targets.
        .target(name: "NormKitTestSupport", dependencies: ["NormKit"], path: "Tests/NormKitTestSupport"),
        .testTarget(
            name: "NormKitTests",
            dependencies: ["NormKit", "NormKitTestSupport", "normkit",
                           .product(name: "ArgumentParser", package: "swift-argument-parser")],
            resources: [.copy("Fixtures")]
        ),
        // Gradient checks of the lab's layers, the data-parallel step, `normkit lab --quick`.
        .testTarget(
            name: "NormKitLabTests",
            dependencies: ["NormKit", "NormKitLab", "NormKitTestSupport", "normkit"]
        ),
    ]
)
