import EASTCluster
import EASTTransport
import Foundation

/// Runs the real worker executables against the loopback servers that
/// scripts/test.sh starts, the way an operator would.
final class ClusterHarness {
    static let amqpURL = ProcessInfo.processInfo.environment["EAST_AMQP_URL"] ?? "amqp://guest:guest@127.0.0.1:5673/"
    static let redisURL = ProcessInfo.processInfo.environment["EAST_REDIS_URL"] ?? "redis://127.0.0.1:6390"
    /// One store for every cluster test: any worker can then serve any run.
    static let store = FileManager.default.temporaryDirectory.appendingPathComponent("east-cluster-tests-store").path
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let backbone = root.appendingPathComponent("models/arith-easy").path

    static var binDirectory: URL {
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: dir.appendingPathComponent("east-sampler").path), dir.path != "/" {
            dir.deleteLastPathComponent()
        }
        return dir
    }

    private(set) var workers: [String: Process] = [:]
    let logs: URL

    init() throws {
        logs = FileManager.default.temporaryDirectory.appendingPathComponent("east-cluster-logs-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: logs, withIntermediateDirectories: true)
    }

    deinit { stopAll() }

    static var environment: [String: String] {
        var env = ProcessInfo.processInfo.environment
        env["EAST_AMQP_URL"] = amqpURL
        env["EAST_REDIS_URL"] = redisURL
        env["EAST_STORE"] = store
        return env
    }

    /// Starts `east-<role>` as `name`, logging to a file.
    func start(_ role: String, name: String, arguments: [String] = []) throws {
        let process = Process()
        process.executableURL = Self.binDirectory.appendingPathComponent("east-\(role)")
        process.arguments = ["--name", name] + arguments
        process.environment = Self.environment
        let log = logs.appendingPathComponent("\(name).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        workers[name] = process
    }

    func kill9(_ name: String) {
        guard let p = workers.removeValue(forKey: name) else { return }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
    }

    func stopAll() {
        for (_, p) in workers where p.isRunning { p.terminate() }
        for (_, p) in workers { p.waitUntilExit() }
        workers.removeAll()
    }

    func log(_ name: String) -> String {
        (try? String(contentsOf: logs.appendingPathComponent("\(name).log"), encoding: .utf8)) ?? ""
    }

    /// Starts the coordinator for a small run on the committed backbone.
    func startCoordinator(run: String, extra: [String] = []) throws -> (Process, Pipe) {
        let process = Process()
        process.executableURL = Self.binDirectory.appendingPathComponent("east-coordinator")
        process.arguments = [
            "--name", "coordinator-\(run)", "--run-id", run, "--checkpoint", Self.backbone, "--train-count", "16", "--test-count", "16",
            "--n", "4", "--temperature", "1.0", "--max-tokens", "64", "--batch-size", "4", "--report", logs.path,
        ] + extra
        process.environment = Self.environment
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        return (process, pipe)
    }

    /// Waits for the process with a deadline; returns its exit status and output.
    static func finish(_ process: Process, _ pipe: Pipe, timeout: Double) -> (Int32, String) {
        let deadline = Date().addingTimeInterval(timeout)
        var output = Data()
        let reader = pipe.fileHandleForReading
        while process.isRunning, Date() < deadline { Thread.sleep(forTimeInterval: 0.2) }
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        output.append(reader.readDataToEndOfFile())
        return (process.terminationStatus, String(decoding: output, as: UTF8.self))
    }

    static func state(_ run: String) throws -> RunState {
        RunState(redis: try RedisConnection(endpoint: Endpoint(url: redisURL, defaultPort: 6379)), run: run)
    }

    static func amqp() throws -> AMQPConnection {
        try AMQPConnection(endpoint: Endpoint(url: amqpURL, defaultPort: 5672))
    }

    static func waitFor(timeout: Double, _ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try condition() { return true }
            Thread.sleep(forTimeInterval: 0.2)
        }
        return false
    }
}
