import Foundation

/// Worker processes on this machine, started from the executables next to
/// the running one: what `east bench cluster` measures (scripts/cluster.sh
/// does the same in shell).
public final class LocalCluster {
    public let binDirectory: URL
    public let environment: [String: String]
    private var processes: [Process] = []

    public init(binDirectory: URL, amqpURL: String, redisURL: String, store: String) {
        self.binDirectory = binDirectory
        var env = ProcessInfo.processInfo.environment
        env["EAST_AMQP_URL"] = amqpURL
        env["EAST_REDIS_URL"] = redisURL
        env["EAST_STORE"] = store
        environment = env
    }

    deinit { stop() }

    /// Starts evaluator, trainer, clusterer and `samplers` samplers (logs discarded).
    public func start(samplers: Int) throws {
        for role in ["evaluator", "trainer", "clusterer"] + Array(repeating: "sampler", count: samplers) {
            let process = Process()
            process.executableURL = binDirectory.appendingPathComponent("east-\(role)")
            process.arguments = ["--name", "\(role)-\(processes.count)"]
            process.environment = environment
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            processes.append(process)
        }
    }

    /// SIGTERM to every worker, then waits for them.
    public func stop() {
        for p in processes where p.isRunning { p.terminate() }
        for p in processes { p.waitUntilExit() }
        processes.removeAll()
    }
}
