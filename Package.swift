// swift-tools-version:6.0
//
// east: entropy-weighted self-training (EAST) as a worker cluster.
//
// One target per concern:
//   CRabbitMQ, CHiredis, COpenBLAS  system-library shims for the C libraries we link
//   EASTCore                         answers, clusters, entropy, weights, statistics (no servers, no BLAS;
//                                    OpenSSL's SHA-256 through CTLS for content addresses)
//   EASTEngine                       the transformer on OpenBLAS: tensors, layers, losses, sampling
//   CKernels                         AVX-512 (and AVX2) C kernels for decoding (few-row matmul, one-query
//                                    attention) and the training layers' exponentials
//   CTLS                             OpenSSL: a TLS client stream (Redis over TLS) and SHA-256
//   EASTTransport                    AMQP (rabbitmq-c) and Redis (hiredis) clients, topology, messages
//   EASTStages                       the stage functions (sample, weigh, train, evaluate), the run
//                                    spec and its records, shared by the in-process run and the workers
//   EASTCluster                      the cluster: messages, Redis run state, the worker loop and the
//                                    five roles, the coordinator, the local launcher, metrics
//   EASTCommandLine                  what `east` and the worker executables share: options, errors
//   east, east-<role>                the command-line tool and the five thin worker executables
//   EASTFuzzTargets, east-fuzz       every reader of outside input for libFuzzer (scripts/fuzz.sh)
import PackageDescription

let workerDependencies: [Target.Dependency] = [
    "EASTCluster", "EASTCommandLine", "EASTStages",
    .product(name: "ArgumentParser", package: "swift-argument-parser"),
]

let package = Package(
    name: "east",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "east", targets: ["east"]),
        .executable(name: "east-coordinator", targets: ["east-coordinator"]),
        .executable(name: "east-sampler", targets: ["east-sampler"]),
        .executable(name: "east-clusterer", targets: ["east-clusterer"]),
        .executable(name: "east-trainer", targets: ["east-trainer"]),
        .executable(name: "east-evaluator", targets: ["east-evaluator"]),
        .executable(name: "east-fuzz", targets: ["east-fuzz"]),
        .library(name: "EASTCore", targets: ["EASTCore"]),
        .library(name: "EASTEngine", targets: ["EASTEngine"]),
        .library(name: "EASTTransport", targets: ["EASTTransport"]),
        .library(name: "EASTStages", targets: ["EASTStages"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.0.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.0"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.1.0"),
    ],
    targets: [
        // System libraries. Each has a module map and a shim header; see the
        // header for the C-from-Swift pitfalls it works around.
        .systemLibrary(
            name: "CRabbitMQ", path: "Sources/CRabbitMQ",
            providers: [.apt(["librabbitmq-dev"])]),
        .systemLibrary(
            name: "CHiredis", path: "Sources/CHiredis",
            providers: [.apt(["libhiredis-dev"])]),
        .systemLibrary(
            name: "COpenBLAS", path: "Sources/COpenBLAS",
            providers: [.apt(["libopenblas-dev"])]),

        // Hand-written C for the decode step (see its header for why). Always
        // optimized: at -O0 the intrinsics would be slower than BLAS, and the
        // debug-built tests decode through it too. Never contracted into FMAs:
        // every kernel rounds where its code says, so the vector and portable
        // loops give the bits their comments promise.
        .target(name: "CKernels", cSettings: [.unsafeFlags(["-O2", "-ffp-contract=off"])]),

        // OpenSSL: a TLS client stream for `rediss://` (Debian's hiredis 0.14 has no SSL) and SHA-256 for the policy store.
        .target(name: "CTLS", linkerSettings: [.linkedLibrary("ssl"), .linkedLibrary("crypto")]),

        .target(name: "EASTCore", dependencies: ["CTLS"]),
        .target(name: "EASTEngine", dependencies: [
            "EASTCore", "COpenBLAS", "CKernels", .product(name: "HeapModule", package: "swift-collections"),
        ]),
        .target(name: "EASTTransport", dependencies: ["EASTCore", "CRabbitMQ", "CHiredis", "CTLS"]),
        .target(name: "EASTStages", dependencies: ["EASTCore", "EASTEngine"]),
        // The cluster: messages, Redis run state, checkpoint store, and the five workers' loops.
        .target(
            name: "EASTCluster",
            dependencies: [
                "EASTCore", "EASTEngine", "EASTStages", "EASTTransport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]),
        // What the `east` CLI and the worker executables share: options, errors, output.
        .target(
            name: "EASTCommandLine",
            dependencies: [
                "EASTCore", "EASTEngine", "EASTStages", "EASTTransport", "EASTCluster",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .executableTarget(
            name: "east",
            dependencies: [
                "EASTCore",
                "EASTEngine",
                "EASTTransport",
                "EASTStages",
                "EASTCluster",
                "EASTCommandLine",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Yams", package: "Yams"),
            ]),

        // The five workers: each a thin main over EASTCluster.
        .executableTarget(name: "east-coordinator", dependencies: workerDependencies),
        .executableTarget(name: "east-sampler", dependencies: workerDependencies),
        .executableTarget(name: "east-clusterer", dependencies: workerDependencies),
        .executableTarget(name: "east-trainer", dependencies: workerDependencies),
        .executableTarget(name: "east-evaluator", dependencies: workerDependencies),

        // Every reader of outside input as a function of bytes (the fuzzer's
        // targets and the regression tests' replays), and the executable
        // scripts/fuzz.sh builds with libFuzzer (or, built plainly, replays inputs).
        .target(name: "EASTFuzzTargets", dependencies: [
            "EASTCore", "EASTEngine", "EASTStages", "EASTTransport", "EASTCluster", .product(name: "Yams", package: "Yams"),
        ]),
        .executableTarget(name: "east-fuzz", dependencies: ["EASTFuzzTargets"]),

        .testTarget(name: "EASTCoreTests", dependencies: ["EASTCore"]),
        .testTarget(name: "EASTEngineTests", dependencies: ["EASTEngine", "EASTCore", "CKernels"]),
        // What several test targets need: TLS-only servers with a CA made at test time.
        .target(name: "EASTTestSupport", dependencies: ["EASTTransport"], path: "Tests/EASTTestSupport"),
        .testTarget(name: "EASTTransportTests", dependencies: ["EASTTransport", "EASTTestSupport"]),
        // Runs the worker executables against real servers.
        .testTarget(name: "ClusterTests", dependencies: [
            "EASTCluster", "EASTTransport", "EASTCore", "EASTStages", "EASTEngine", "EASTTestSupport",
            "east-coordinator", "east-sampler", "east-clusterer", "east-trainer", "east-evaluator", "east",
            .product(name: "Yams", package: "Yams"),  // reads the Kubernetes manifests
        ]),
        .testTarget(name: "EASTStagesTests", dependencies: ["EASTStages", "EASTEngine", "EASTCore"]),
        .testTarget(name: "SystemLibraryTests", dependencies: ["CRabbitMQ", "CHiredis", "COpenBLAS"]),
        // Replays the fuzzer's kept inputs and past crashes through every reader.
        .testTarget(name: "FuzzTests", dependencies: ["EASTFuzzTargets"]),
        // Runs the built `east` binary end to end.
        .testTarget(name: "CLITests", dependencies: ["east", "EASTCommandLine"]),
    ]
)
