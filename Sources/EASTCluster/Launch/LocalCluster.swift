import EASTTransport
import Foundation

/// The five roles, each an executable `east-<role>`.
public enum Role: String, CaseIterable, Sendable {
    case coordinator, sampler, clusterer, trainer, evaluator
}

/// Worker processes on this machine, started from the executables next to
/// the running one. The one launcher: `east cluster up` (the main job),
/// `east bench cluster` and the cluster tests all start, watch and kill
/// workers through it. Each process has a name and a log file of its own
/// (`<logs>/<name>.log`, stdout and stderr), which is read while it runs.
public final class LocalCluster {
    public let binDirectory: URL
    public let logs: URL
    public let environment: [String: String]
    /// The folder of the workers' own caches, when given.
    public let caches: URL?
    public private(set) var processes: [String: Process] = [:]

    /// `amqp`, `redis` and `policies` go to every child as EAST_AMQP_URL,
    /// EAST_REDIS_URL and EAST_POLICY_STORE; with `caches`, each worker's
    /// own cache is `<caches>/<name>` (EAST_CACHE_ROOT), else `.east-cache/<name>`.
    public init(binDirectory: URL, amqp: [Endpoint], redis: RedisAddress, policies: PolicyStore.Location = .redis, caches: URL? = nil,
                logs: URL) throws {
        self.binDirectory = binDirectory
        self.logs = logs
        self.caches = caches
        var env = ProcessInfo.processInfo.environment
        env["EAST_AMQP_URL"] = Endpoint.urlList(amqp)
        env["EAST_REDIS_URL"] = redis.url
        env["EAST_POLICY_STORE"] = policies.description
        if let caches { env["EAST_CACHE_ROOT"] = caches.path }
        environment = env
        try FileManager.default.createDirectory(at: logs, withIntermediateDirectories: true)
    }

    deinit { stop() }

    /// The folder holding `east-sampler` and its siblings, at or above `executable`'s.
    public static func binDirectory(near executable: String = CommandLine.arguments[0]) -> URL {
        var dir = URL(fileURLWithPath: executable).resolvingSymlinksInPath().deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: dir.appendingPathComponent("east-sampler").path), dir.path != "/" {
            dir.deleteLastPathComponent()
        }
        return dir
    }

    /// Starts `east-<role> --name <name> <arguments>`; with `echo`, its
    /// output goes to this process's stdout instead of its log. `host` is a
    /// command that runs it elsewhere, e.g. `["/usr/sbin/ip", "netns", "exec",
    /// "h1"]`; it must exec the executable in place (as `ip netns exec`
    /// does), so that the process's id and signals stay the worker's.
    @discardableResult
    public func start(_ role: Role, name: String, arguments: [String] = [], host: [String] = [], echo: Bool = false) throws -> Process {
        try start(executable: "east-\(role.rawValue)", name: name, arguments: ["--name", name] + arguments, host: host, echo: echo)
    }

    /// Starts another executable of the package (e.g. `east experiment`) the same way.
    @discardableResult
    public func start(executable: String, name: String, arguments: [String], host: [String] = [], echo: Bool = false) throws -> Process {
        precondition(processes[name] == nil, "a process named \(name) is already running")
        let process = Process()
        let path = binDirectory.appendingPathComponent(executable)
        if let launcher = host.first {
            process.executableURL = URL(fileURLWithPath: launcher)
            process.arguments = host.dropFirst() + [path.path] + arguments
        } else {
            process.executableURL = path
            process.arguments = arguments
        }
        process.environment = environment
        if !echo {
            let log = logFile(name)
            _ = FileManager.default.createFile(atPath: log.path, contents: nil)
            let handle = try FileHandle(forWritingTo: log)
            process.standardOutput = handle
            process.standardError = handle
        }
        try process.run()
        processes[name] = process
        return process
    }

    /// Trainer, clusterer, `evaluators` evaluators (`evaluator`, then
    /// `evaluator-2`...) and `samplers` samplers (`sampler-1`...).
    public func startWorkers(samplers: Int, evaluators: Int = 1, arguments: [Role: [String]] = [:]) throws {
        for role in [Role.trainer, .clusterer] { try start(role, name: role.rawValue, arguments: arguments[role] ?? []) }
        for i in 1...max(1, evaluators) { try start(.evaluator, name: i == 1 ? "evaluator" : "evaluator-\(i)", arguments: arguments[.evaluator] ?? []) }
        for i in 1...max(1, samplers) { try start(.sampler, name: "sampler-\(i)", arguments: arguments[.sampler] ?? []) }
    }

    public func logFile(_ name: String) -> URL { logs.appendingPathComponent("\(name).log") }

    public func log(_ name: String) -> String { (try? String(contentsOf: logFile(name), encoding: .utf8)) ?? "" }

    /// SIGKILL: no shutdown code runs, as when a host dies.
    public func kill9(_ name: String) {
        guard let p = processes.removeValue(forKey: name) else { return }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
    }

    /// Waits for one process to exit (SIGTERM at the deadline); its exit status.
    @discardableResult
    public func wait(_ name: String, timeout: Double) -> Int32 {
        guard let p = processes[name] else { return -1 }
        let deadline = Date().addingTimeInterval(timeout)
        while p.isRunning, Date() < deadline { Thread.sleep(forTimeInterval: 0.2) }
        if p.isRunning { p.terminate() }
        p.waitUntilExit()
        processes[name] = nil
        return p.terminationStatus
    }

    /// SIGTERM to every process, then waits for them.
    public func stop() {
        for (_, p) in processes where p.isRunning { p.terminate() }
        for (_, p) in processes { p.waitUntilExit() }
        processes.removeAll()
    }
}
