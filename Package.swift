// swift-tools-version:6.0
// userrep: Kafka stream worker that keeps generalized user representations up to date.
import PackageDescription

let package = Package(
    name: "userrep",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "userrep", targets: ["userrep"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        // Metrics: the swift-metrics API in the worker, Prometheus' format and an HTTP endpoint in the CLI.
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        // System libraries: Debian librdkafka-dev, librocksdb-dev, libopenblas-dev.
        .systemLibrary(name: "CRdKafka", pkgConfig: "rdkafka", providers: [.apt(["librdkafka-dev"])]),
        .systemLibrary(name: "CRocksDB", providers: [.apt(["librocksdb-dev"])]),
        .systemLibrary(name: "COpenBLAS", providers: [.apt(["libopenblas-dev"])]),
        // glibc's <malloc.h> (mallopt), for process tuning in the command line tool.
        .systemLibrary(name: "CMalloc"),

        .target(name: "UserRepKafka", dependencies: ["CRdKafka"]),
        // The numeric kernels (encoder, training, evaluation) are optimized in debug builds too:
        // unoptimized, the evaluation's loops and the trainer's element-wise passes run 20-50x slower,
        // which the end-to-end tests and `Tests/movielens/run.sh` on a debug binary would pay.
        .target(name: "UserRepModel", dependencies: ["COpenBLAS"], swiftSettings: [.unsafeFlags(["-O"], .when(configuration: .debug))]),
        .target(name: "UserRepState", dependencies: ["CRocksDB", "UserRepModel"]),
        .target(
            name: "UserRepPipeline",
            dependencies: [
                "UserRepKafka", "UserRepState", "UserRepModel",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ]
        ),
        // The worker's HTTP endpoints: Prometheus /metrics, /healthz and /readyz (SwiftNIO).
        .target(
            name: "UserRepServer",
            dependencies: [
                "UserRepPipeline",
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        // The embedded set-up (cluster, topics, synthetic data) that demo, bench and the tests share.
        .target(name: "UserRepTesting", dependencies: ["UserRepPipeline", "UserRepKafka", "UserRepState", "UserRepModel"]),
        .executableTarget(
            name: "userrep",
            dependencies: [
                "UserRepPipeline", "UserRepTesting", "UserRepKafka", "UserRepState", "UserRepModel", "UserRepServer", "CMalloc",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // Drives the fuzz targets (UserRepTesting.FuzzTarget): libFuzzer's entry point under
        // fuzz/run.sh, a replayer of input files in a normal build.
        .executableTarget(name: "userrep-fuzz", dependencies: ["UserRepTesting"]),

        // Fixtures (a model saved by Python's safetensors under PyTorch names) are read at run time.
        .testTarget(name: "UserRepModelTests", dependencies: ["UserRepModel"], exclude: ["Fixtures"]),
        .testTarget(name: "UserRepStateTests", dependencies: ["UserRepState", "UserRepModel"]),
        .testTarget(name: "UserRepKafkaTests", dependencies: ["UserRepKafka"]),
        // Fast unit tests of the pipeline's pure parts (no cluster, no subprocess).
        .testTarget(
            name: "UserRepPipelineTests",
            dependencies: ["UserRepPipeline", "UserRepTesting", "UserRepKafka", "UserRepState", "UserRepModel"],
            // Inputs the fuzzers found bugs with, read at run time by FuzzReplayTests.
            exclude: ["FuzzRegressions"]
        ),
        // End-to-end tests: the embedded cluster, real RocksDB and the real binary.
        .testTarget(
            name: "UserRepEndToEndTests",
            dependencies: [
                "UserRepPipeline", "UserRepTesting", "UserRepKafka", "UserRepState", "UserRepModel", "UserRepServer",
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The same checks against a real broker (Tansu, fetched at test time by Tests/broker/fetch.sh).
        .testTarget(name: "UserRepBrokerTests", dependencies: ["UserRepPipeline", "UserRepTesting", "UserRepModel"]),
    ],
    swiftLanguageModes: [.v6]
)
