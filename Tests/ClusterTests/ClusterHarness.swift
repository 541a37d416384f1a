import EASTCluster
import EASTTransport
import Foundation

/// The cluster tests' settings over the one launcher (`LocalCluster`): the
/// real worker executables against the loopback servers scripts/test.sh
/// starts, the way an operator runs them.
enum ClusterHarness {
    static let environment = ProcessInfo.processInfo.environment
    static let amqp = try! Endpoint.brokers(environment: environment)
    static let redis = try! Endpoint.redis(environment: environment)
    /// A fresh folder under the temporary directory.
    static func temporaryFolder(_ tag: String) -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("east-\(tag)-\(UUID().uuidString.prefix(8))")
    }
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let backbone = root.appendingPathComponent("models/arith-easy").path

    /// A launcher with logs of its own; policies travel through Redis (the
    /// default) and every worker starts with an empty cache of its own
    /// (`<caches>/<name>`), as on hosts that share nothing but the servers.
    static func cluster(policies: PolicyStore.Location = .redis) throws -> LocalCluster {
        try LocalCluster(binDirectory: LocalCluster.binDirectory(), amqp: amqp, redis: redis, policies: policies,
                         caches: temporaryFolder("cluster-caches"), logs: temporaryFolder("cluster-logs"))
    }

    /// A policy store in this process, with a cache of its own.
    static func policyStore(_ location: PolicyStore.Location = .redis, cache: URL = temporaryFolder("test-cache"),
                            retention: PolicyStore.Retention = .init(), log: @escaping (String) -> Void = { _ in }) -> PolicyStore {
        PolicyStore(settings: .init(location: location, cache: cache, retention: retention), redis: redis, log: log)
    }

    /// The settings of the tests' small run on the committed backbone.
    static let smallRun = [
        "--checkpoint", backbone, "--train-count", "16", "--test-count", "16",
        "--n", "4", "--temperature", "1.0", "--max-tokens", "64", "--batch-size", "4",
    ]

    static func state(_ run: String) throws -> RunState {
        RunState(redis: try RedisConnection(address: redis), run: run)
    }

    static func broker() throws -> AMQPConnection { try AMQPConnection(endpoint: amqp[0]) }

    static func waitFor(timeout: Double, poll: Double = 0.2, _ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try condition() { return true }
            Thread.sleep(forTimeInterval: poll)
        }
        return false
    }
}

extension LocalCluster {
    /// `coordinator-<run>`, with the small run's settings unless `settings` says otherwise.
    func startCoordinator(run: String, settings: [String] = ClusterHarness.smallRun, extra: [String] = []) throws {
        try start(.coordinator, name: "coordinator-\(run)", arguments: ["--run-id", run, "--report", logs.path] + settings + extra)
    }

    /// A whole run: starts its coordinator and waits for it.
    func runCoordinator(run: String, settings: [String] = ClusterHarness.smallRun, extra: [String] = []) throws -> (Int32, String) {
        try startCoordinator(run: run, settings: settings, extra: extra)
        return finishCoordinator(run: run)
    }

    /// Waits for the run's coordinator; its exit status and output.
    func finishCoordinator(run: String, timeout: Double = 600) -> (Int32, String) {
        let status = wait("coordinator-\(run)", timeout: timeout)
        return (status, log("coordinator-\(run)"))
    }
}
