import ArgumentParser
import EASTCluster
import EASTCore
import EASTEngine
import EASTTransport
import Foundation
import Logging

/// Where a worker finds the broker, Redis and the policies. Flags win over
/// the environment (EAST_AMQP_URL, EAST_REDIS_URL, EAST_POLICY_STORE,
/// EAST_CACHE_ROOT), which wins over the loopback defaults of
/// scripts/servers.sh (`Endpoint`) and the network store in Redis.
public struct WorkerOptions: ParsableArguments {
    public init() {}

    @Option(help: "RabbitMQ URL, or the URLs of a cluster's nodes separated by commas, tried in turn (env EAST_AMQP_URL).")
    public var amqpURL: String?

    @Option(help: "Redis URL: redis://, rediss://, or redis-sentinel://[user:password@]host:port,host:port.../NAME for the primary Sentinel names (env EAST_REDIS_URL).")
    public var redisURL: String?

    @Option(help: "Where policies and the trainer's resume point live: redis (the default: chunked blobs in the cluster's Redis) or shared:/path (a folder every host mounts) (env EAST_POLICY_STORE).")
    public var policyStore: String?

    @Option(help: "This worker's own cache of fetched policies (default: $EAST_CACHE_ROOT/<name>, EAST_CACHE_ROOT defaulting to .east-cache).")
    public var cacheDir: String?

    @Option(help: "Retention: the newest policy versions each run keeps in the store (0: all); older ones go once evaluated.")
    public var keepVersions = 2

    @Option(help: "Retention: seconds a blob a writer just used is safe from deletion.")
    public var retentionGrace = 10.0

    @Option(help: "Name in logs and results (default: role-pid).")
    public var name: String?

    @Option(help: "Threads for the engine (several workers on one machine: 1 each).")
    public var threads = 1

    @Option(help: "AMQP heartbeat in seconds.")
    public var heartbeat = 30

    @Option(help: "Serve /metrics (Prometheus), /healthz (alive) and /readyz (connected to a broker and Redis) on this port (0: a free port; off when omitted).")
    public var metricsPort: Int?

    @Option(help: "Address the metrics server listens on (0.0.0.0 in containers).")
    public var metricsAddress = "127.0.0.1"

    @Flag(help: "Sample every question again instead of reusing samples and greedy answers kept in Redis by content address (to measure what reuse saves; the results are the same).")
    public var noSampleReuse = false

    /// What `east cluster up` hands on to every process it starts (the
    /// endpoints and policy store go as environment; names, caches and
    /// metrics ports are each process's own).
    public var forwarded: [String] {
        ["--keep-versions", String(keepVersions), "--retention-grace", String(retentionGrace),
         "--threads", String(threads), "--heartbeat", String(heartbeat)] + (noSampleReuse ? ["--no-sample-reuse"] : [])
    }

    public func validate() throws {
        try validateThreads(threads)
        guard heartbeat >= 0, heartbeat <= 3600 else { throw ValidationError("--heartbeat must be from 0 to 3600 seconds, not \(heartbeat)") }
        guard keepVersions >= 0 else { throw ValidationError("--keep-versions must be 0 (all) or more, not \(keepVersions)") }
        guard retentionGrace >= 0 else { throw ValidationError("--retention-grace must be 0 or more seconds, not \(retentionGrace)") }
    }

    public func environment(role: String) throws -> WorkerEnvironment {
        let env = ProcessInfo.processInfo.environment
        let workerName = name ?? "\(role)-\(getpid())"
        try SafeName.check(workerName, what: "--name")
        BLASThreads.set(threads)
        let logger = Logger(label: workerName)
        var environment = WorkerEnvironment(
            name: workerName, role: role,
            amqp: try Endpoint.brokers(amqpURL, environment: env), redis: try Endpoint.redis(redisURL, environment: env),
            policies: PolicyStore.Settings(
                location: try PolicyStore.Location(parsing: policyStore ?? env["EAST_POLICY_STORE"] ?? "redis"),
                cache: URL(fileURLWithPath: cacheDir ?? "\(env["EAST_CACHE_ROOT"] ?? ".east-cache")/\(workerName)"),
                retention: PolicyStore.Retention(keepVersions: keepVersions, grace: retentionGrace)),
            heartbeat: heartbeat,
            log: { line in logger.info("\(line)") })
        environment.reuseSamples = !noSampleReuse
        return environment
    }

    /// Runs `body` as a service beside the metrics server (when asked for)
    /// until it returns or SIGTERM/SIGINT stops it; errors are reported like
    /// every east command's.
    public func runService(role: String, _ body: @escaping @Sendable (WorkerEnvironment, StopFlag) throws -> Void) async throws {
        relaunchWithFasterBLASKernelsIfNeeded()
        try await failing {
            let environment = try self.environment(role: role)
            environment.log("started (broker \(environment.amqp.map(\.description).joined(separator: ",")), redis \(environment.redis), policy store \(environment.policies.location), "
                            + "cache \(environment.policies.cache.path))")
            var server: MetricsServer?
            if let port = metricsPort {
                let health = environment.health
                server = try MetricsServer(address: metricsAddress, port: port, metrics: { WorkerMetrics.text }, ready: { health.isReady })
                environment.log("metrics and probes on http://\(metricsAddress):\(server!.port)/metrics, /healthz and /readyz")
            }
            try await runServices(main: BlockingService(name: environment.name) { stop in try body(environment, stop) },
                                  metrics: server, logger: Logger(label: environment.name))
        }
    }
}

/// The command of the four message-driven workers (`east-sampler`,
/// `east-clusterer`, `east-trainer`, `east-evaluator`): each executable's
/// main is `await WorkerCommand.start(.<role>)`.
public struct WorkerCommand: AsyncParsableCommand {
    public nonisolated(unsafe) static var role = Role.sampler

    public static var configuration: CommandConfiguration {
        let what: [Role: String] = [
            .sampler: "samples n responses per question (any number of replicas)",
            .clusterer: "clusters each question's responses into its record in Redis",
            .trainer: "trains on the weighted batches (one active; a second waits as a standby)",
            .evaluator: "measures each policy version's greedy test accuracy",
        ]
        return CommandConfiguration(commandName: "east-\(role.rawValue)", abstract: "EAST \(role.rawValue) worker: \(what[role] ?? "").")
    }

    @OptionGroup var options: WorkerOptions

    @Option(help: "Trainer only: save model, optimizer and position (and ack) every K batches.")
    var checkpointEvery = 4

    @Option(help: "Evaluator only: test questions per evaluation shard (any evaluator replica takes any shard).")
    var evalShardSize = 128

    /// Evaluation is off a run's critical path until its last version (the
    /// coordinator waits for accuracies only at the end), while sampling is
    /// always on it: where an evaluator shares cores with samplers it should
    /// take the cycles they leave. Alone on a host, the priority costs nothing.
    @Option(help: "Evaluator only: CPU priority as a nice value (0 to 19; higher yields to samplers on shared cores).")
    var evaluatorNice: Int32 = 10

    @Option(help: "Sampler only: samples decoded together (continuous batching).")
    var maxRows = 64

    @Option(help: "Sampler only: jobs held at once (default: enough for twice --max-rows rows, sized from the jobs it gets).")
    var jobsInHand: Int?

    public init() {}

    /// Parses the command line as this role's and runs it. (Top-level code
    /// calling `main()` would pick the synchronous overload.)
    public static func start(_ role: Role) async {
        Self.role = role
        do {
            let command = try parse()
            try await command.run()
        } catch {
            exit(withError: error)
        }
    }

    public func validate() throws {
        guard (0...19).contains(evaluatorNice) else { throw ValidationError("--evaluator-nice must be from 0 to 19, not \(evaluatorNice)") }
    }

    public func run() async throws {
        if Self.role == .evaluator, evaluatorNice > 0 { lowerCPUPriority(to: evaluatorNice) }
        let role = Self.role, checkpointEvery = checkpointEvery, maxRows = maxRows, jobsInHand = jobsInHand, evalShardSize = evalShardSize
        try await options.runService(role: role.rawValue) { env, stop in
            switch role {
            case .sampler: try WorkerLoop.run(SamplerWorker(environment: env, maxRows: maxRows, jobsInHand: jobsInHand), environment: env, stop: stop)
            case .clusterer: try WorkerLoop.run(ClustererWorker(), environment: env, stop: stop)
            case .trainer: try WorkerLoop.run(TrainerWorker(environment: env, checkpointEvery: checkpointEvery), environment: env, stop: stop)
            case .evaluator:
                // Two loops: checkpoint events become shard jobs; shard jobs (any replica's) are evaluated.
                // If either fails, both stop and the evaluator exits with the error.
                let splitterError = LockedValue<Error?>(nil)
                let splitter = JoinableThread(name: "splitter") {
                    do { try WorkerLoop.run(EvaluationSplitter(shardSize: evalShardSize), environment: env, stop: stop) } catch {
                        splitterError.value = error
                        stop.request()
                    }
                }
                defer { stop.request(); splitter.join() }
                try WorkerLoop.run(EvaluatorWorker(environment: env), environment: env, stop: stop)
                splitter.join()
                if let error = splitterError.value { throw error }
            case .coordinator: preconditionFailure("the coordinator has its own command")
            }
        }
    }
}

/// Sets the nice value of every thread of this process (on Linux it is a
/// per-thread setting; threads started later inherit the caller's).
func lowerCPUPriority(to nice: Int32) {
    let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
    for tid in tasks.compactMap({ id_t($0) }) + [0] {
        _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), tid, nice)
    }
}
