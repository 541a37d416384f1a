import ArgumentParser
import EASTCluster
import EASTEngine
import EASTTransport
import Foundation
import Logging

/// Where a worker finds the broker, Redis and the checkpoint store. Flags
/// win over the environment (EAST_AMQP_URL, EAST_REDIS_URL, EAST_STORE),
/// which wins over the loopback defaults of scripts/servers.sh.
public struct WorkerOptions: ParsableArguments {
    public init() {}

    @Option(help: "RabbitMQ URL (env EAST_AMQP_URL).")
    public var amqpURL: String?

    @Option(help: "Redis URL (env EAST_REDIS_URL).")
    public var redisURL: String?

    @Option(help: "Shared checkpoint directory (env EAST_STORE).")
    public var store: String?

    @Option(help: "Name in logs and results (default: role-pid).")
    public var name: String?

    @Option(help: "OpenBLAS threads (several workers on one machine: 1 each).")
    public var threads = 1

    @Option(help: "AMQP heartbeat in seconds.")
    public var heartbeat = 30

    @Option(help: "Serve /metrics (Prometheus) and /health on this port (0: a free port; off when omitted).")
    public var metricsPort: Int?

    @Option(help: "Address the metrics server listens on (0.0.0.0 in containers).")
    public var metricsAddress = "127.0.0.1"

    public func environment(role: String) throws -> WorkerEnvironment {
        let env = ProcessInfo.processInfo.environment
        let workerName = name ?? "\(role)-\(getpid())"
        BLASThreads.set(threads)
        let logger = Logger(label: workerName)
        return WorkerEnvironment(
            name: workerName, role: role,
            amqp: try Endpoint(url: amqpURL ?? env["EAST_AMQP_URL"] ?? "amqp://guest:guest@127.0.0.1:5673/", defaultPort: 5672),
            redis: try Endpoint(url: redisURL ?? env["EAST_REDIS_URL"] ?? "redis://127.0.0.1:6390", defaultPort: 6379),
            store: CheckpointStore(root: store ?? env["EAST_STORE"] ?? ".east-store"),
            heartbeat: heartbeat,
            log: { line in logger.info("\(line)") })
    }
}

/// Runs a worker until SIGTERM/SIGINT, reporting errors like every east command.
public func runWorker(role: String, options: WorkerOptions, _ body: (WorkerEnvironment, ShutdownSignal) throws -> Void) throws {
    relaunchWithFasterBLASKernelsIfNeeded()
    try failing {
        let environment = try options.environment(role: role)
        let shutdown = ShutdownSignal()
        shutdown.install()
        environment.log("started (broker \(environment.amqp), redis \(environment.redis), store \(environment.store.root.path))")
        var server: MetricsServer?
        if let port = options.metricsPort {
            let health = environment.health
            server = try MetricsServer(address: options.metricsAddress, port: port, metrics: { WorkerMetrics.text },
                                       healthy: { health.isHealthy })
            environment.log("metrics and health on http://\(options.metricsAddress):\(server!.port)/metrics and /health")
        }
        try body(environment, shutdown)
        _ = server
    }
}
