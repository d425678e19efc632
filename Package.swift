// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "pbrepo",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "pbrepo", targets: ["pbrepo"]),
        .library(name: "TensorFiles", targets: ["TensorFiles"]),
        .executable(name: "pbrepo-fuzz", targets: ["PBRepoFuzz"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-numerics", from: "1.1.1"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
    ],
    targets: [
        // MARK: - C libraries (Debian -dev packages; `make deps` installs them, `providers` only prints a hint)
        .systemLibrary(name: "CHDF5", pkgConfig: "hdf5", providers: [.apt(["libhdf5-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CXXHash", pkgConfig: "libxxhash", providers: [.apt(["libxxhash-dev"])]),
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),

        // MARK: - One Swift module per C library; nothing else imports the C modules
        .target(name: "HDF5", dependencies: ["CHDF5"]),
        .target(name: "Zstd", dependencies: ["CZstd"]),
        .target(name: "XXHash", dependencies: ["CXXHash"]),
        .target(name: "BLAS", dependencies: ["COpenBLAS"]),

        // MARK: - Core: files, JSON, parallelism; no C library
        .target(name: "PBRCore"),

        // MARK: - Formats
        .target(name: "TensorFiles", dependencies: ["PBRCore", "HDF5", "XXHash"]),
        .target(name: "ParameterBlocks", dependencies: ["PBRCore", "TensorFiles", "XXHash"]),

        // MARK: - The manifest: the store's output, every simulator's input
        .target(name: "PBManifest", dependencies: ["PBRCore"]),
        .target(name: "ManifestSynthesis", dependencies: ["PBRCore", "PBManifest", "ParameterBlocks", "XXHash"]),

        // MARK: - Store
        .target(
            name: "BlockStore",
            dependencies: [
                "PBRCore", "PBManifest", "TensorFiles", "ParameterBlocks", "XXHash", "Zstd",
                .product(name: "GRDB", package: "GRDB.swift"), .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),

        // MARK: - Distribution: OCI documents, a registry client, models as OCI artifacts
        .target(name: "OCI", dependencies: ["PBRCore", .product(name: "Crypto", package: "swift-crypto")]),
        .target(
            name: "RegistryClient",
            dependencies: [
                "OCI", "PBRCore", .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
            ]),
        .target(
            name: "Distribution",
            dependencies: [
                "BlockStore", "OCI", "RegistryClient", "PBRCore", "XXHash",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]),

        // MARK: - The edge node: an OCI read-only registry served from a store, fetching misses from peers and origin
        .target(
            name: "EdgeNode",
            dependencies: [
                "Distribution", "BlockStore", "OCI", "RegistryClient", "PBRCore", "XXHash",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ]),

        // MARK: - Simulator
        .target(
            name: "EdgeSim",
            dependencies: ["PBRCore", "PBManifest", .product(name: "Numerics", package: "swift-numerics")]),

        // MARK: - Trainer
        .target(name: "NeuralKit", dependencies: ["BLAS", .product(name: "Numerics", package: "swift-numerics")]),
        .target(
            name: "Trainer",
            dependencies: [
                "PBRCore", "NeuralKit", "EdgeSim", "TensorFiles", "BLAS",
                .product(name: "Numerics", package: "swift-numerics"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]),

        // MARK: - Fuzz targets: the decoders of untrusted bytes, and the tool libFuzzer drives (scripts/fuzz.sh)
        .target(name: "FuzzHarnesses", dependencies: ["PBRCore", "TensorFiles", "BlockStore", "XXHash"]),
        .executableTarget(name: "PBRepoFuzz", dependencies: ["FuzzHarnesses", "PBRCore"]),

        // MARK: - Executable (thin: parses, calls one library function, prints)
        .executableTarget(
            name: "pbrepo",
            dependencies: [
                "PBRCore", "PBManifest", "ManifestSynthesis", "TensorFiles", "ParameterBlocks", "BlockStore", "EdgeSim",
                "Trainer", "Distribution", "OCI", "RegistryClient", "EdgeNode",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // MARK: - Tests
        .target(name: "TestSupport", dependencies: ["PBRCore"], path: "Tests/TestSupport"),
        .testTarget(name: "PBRCoreTests", dependencies: ["PBRCore", "TestSupport"]),
        .testTarget(
            name: "PBManifestTests",
            dependencies: ["PBManifest", "ManifestSynthesis", "BlockStore", "PBRCore", "TestSupport"]),
        .testTarget(name: "CLibraryWrapperTests", dependencies: ["Zstd", "XXHash", "BLAS", "PBRCore", "TestSupport"]),
        .testTarget(name: "HDF5Tests", dependencies: ["HDF5", "TestSupport"]),
        .testTarget(
            name: "TensorFilesTests", dependencies: ["TensorFiles", "HDF5", "XXHash", "PBRCore", "TestSupport"]),
        .testTarget(name: "ParameterBlocksTests", dependencies: ["ParameterBlocks", "TensorFiles", "TestSupport"]),
        .testTarget(
            name: "EdgeSimTests",
            dependencies: ["EdgeSim", "PBRCore", "TestSupport", .product(name: "Numerics", package: "swift-numerics")]),
        .testTarget(name: "NeuralKitTests", dependencies: ["NeuralKit", "PBRCore", "TestSupport"]),
        .testTarget(
            name: "TrainerTests",
            dependencies: ["Trainer", "NeuralKit", "EdgeSim", "TensorFiles", "PBRCore", "TestSupport"]),
        .testTarget(
            name: "BlockStoreTests",
            dependencies: [
                "BlockStore", "ParameterBlocks", "PBManifest", "PBRCore", "TensorFiles", "XXHash", "TestSupport",
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            exclude: ["Fixtures"]
        ),
        .testTarget(
            name: "FuzzRegressionTests",
            dependencies: ["FuzzHarnesses", "BlockStore", "PBRCore", "TensorFiles", "XXHash", "TestSupport"],
            exclude: ["Corpus", "Regressions"]),
        .testTarget(
            name: "DistributionTests",
            dependencies: [
                "Distribution", "OCI", "RegistryClient", "BlockStore", "PBRCore", "XXHash", "TestSupport",
                .product(name: "Crypto", package: "swift-crypto"), .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ]),
        .testTarget(name: "EdgeNodeTests", dependencies: ["EdgeNode"]),
        .testTarget(
            name: "PBRepoCLITests",
            dependencies: [
                "pbrepo", "TensorFiles", "BlockStore", "HDF5", "PBRCore", "XXHash", "TestSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)

// Every Swift target gets the same strictness: explicit `any`, imports visible only where declared, and internal
// unless a declaration's API needs them (`public import`/`package import` then say so).
for target in package.targets where target.type != .system {
    var settings = target.swiftSettings ?? []
    settings.append(.enableUpcomingFeature("ExistentialAny"))
    settings.append(.enableUpcomingFeature("MemberImportVisibility"))
    settings.append(.enableUpcomingFeature("InternalImportsByDefault"))
    target.swiftSettings = settings
}
