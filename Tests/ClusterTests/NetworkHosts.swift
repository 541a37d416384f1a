import EASTCluster
import EASTTransport
import Foundation
import Testing

/// Several hosts on this machine: one network namespace each (`ip netns`),
/// joined by veth pairs to a bridge, so that the workers, the coordinator and
/// the servers talk only over IP, as machines on a LAN do. The servers' host
/// runs RabbitMQ and Redis (scripts/servers.sh) bound to its bridge address,
/// with a user and password of their own (the workers refuse guest and
/// password-less servers off loopback); the highly available servers' host
/// runs the highly available set (`scripts/servers.sh start --ha`: three
/// clustered RabbitMQ nodes, a Redis primary and replica, three sentinels),
/// for the failure drills. The test process stays in this machine's
/// namespace and reaches every host through the bridge's address.
///
/// Needs root and iproute2; where `ip netns add` is not permitted,
/// `unavailable` says why and the tests using it are skipped.
final class NetworkHosts: @unchecked Sendable {
    /// One host: its namespace and its address on the bridge.
    enum Host: String, CaseIterable {
        case servers, trainer, evaluator = "eval", sampler1, sampler2, coordinator = "coord", haServers = "ha"

        /// Names unique on a shared machine: a crashed run's leftovers are found by them.
        var namespace: String { NetworkHosts.prefix + rawValue }
        /// The veth end on the bridge (interface names have at most 15 characters).
        var link: String { "e\(NetworkHosts.tag)n-\(rawValue)" }
        var address: String { "\(NetworkHosts.subnet).\(Host.allCases.firstIndex(of: self)! + 1)" }
    }

    /// `EAST_TEST_NET` (0-9, default 0) picks the names and the subnet, so
    /// that two checkouts on one machine can run these tests side by side.
    static let tag: Int = {
        let value = ProcessInfo.processInfo.environment["EAST_TEST_NET"].flatMap { Int($0) } ?? 0
        return (0...9).contains(value) ? value : 0
    }()
    static let prefix = "east\(tag)n-"
    static let bridge = "east\(tag)n-br"
    static let subnet = "10.\(77 + tag).0"
    static let bridgeAddress = "\(subnet).254"
    static let ip = "/usr/sbin/ip"
    /// The servers' files, the workers' caches and the logs.
    static let folder = FileManager.default.temporaryDirectory.appendingPathComponent("east\(tag)n-hosts")

    let amqp: [Endpoint]
    let redis: RedisAddress
    /// The highly available set: its three broker nodes and its sentinels.
    let haAMQP: [Endpoint]
    let haRedis: RedisAddress
    /// scripts/servers.sh's settings for the servers' hosts.
    private let serverEnvironment: [String: String]
    private let haEnvironment: [String: String]

    /// Why the hosts cannot be built here, or nil when they can.
    static let whyUnavailable: String? = {
        guard getuid() == 0 else { return "ip netns needs root (running as uid \(getuid()))" }
        guard FileManager.default.isExecutableFile(atPath: ip) else { return "\(ip) (iproute2) is not installed" }
        let probe = prefix + "probe"
        _ = try? shell([ip, "netns", "del", probe])
        do { try shell([ip, "netns", "add", probe]) } catch { return "ip netns add is not permitted here: \(error)" }
        _ = try? shell([ip, "netns", "del", probe])
        return nil
    }()

    static var unavailableComment: Comment { Comment(rawValue: whyUnavailable ?? "") }

    /// Builds the hosts and starts the servers, after removing what a
    /// crashed earlier run left; on any failure removes what it built.
    init() throws {
        Self.removeAll()
        let password = { UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16) }
        serverEnvironment = [
            "EAST_SERVERS_DIR": Self.folder.appendingPathComponent("servers").path,
            "EAST_BIND_ADDRESS": Host.servers.address,
            "EAST_AMQP_PORT": "5672", "EAST_AMQP_DIST_PORT": "25672", "EAST_REDIS_PORT": "6379", "EAST_AMQP_PROMETHEUS_PORT": "15692",
            "EAST_AMQP_USER": "east", "EAST_AMQP_PASSWORD": String(password()), "EAST_REDIS_PASSWORD": String(password()),
        ]
        // servers.sh's default ports for the set (on a host of its own).
        haEnvironment = [
            "EAST_SERVERS_DIR": Self.folder.appendingPathComponent("ha-servers").path,
            "EAST_BIND_ADDRESS": Host.haServers.address,
            "EAST_AMQP_USER": "east", "EAST_AMQP_PASSWORD": String(password()), "EAST_REDIS_PASSWORD": String(password()),
        ]
        do {
            try FileManager.default.createDirectory(at: Self.folder, withIntermediateDirectories: true)
            try Self.shell([Self.ip, "link", "add", Self.bridge, "type", "bridge"])
            try Self.shell([Self.ip, "addr", "add", "\(Self.bridgeAddress)/24", "dev", Self.bridge])
            try Self.shell([Self.ip, "link", "set", Self.bridge, "up"])
            for host in Host.allCases {
                try Self.shell([Self.ip, "netns", "add", host.namespace])
                try Self.shell([Self.ip, "link", "add", host.link, "type", "veth", "peer", "name", "eth0", "netns", host.namespace])
                try Self.shell([Self.ip, "link", "set", host.link, "master", Self.bridge, "up"])
                try Self.shell([Self.ip, "-n", host.namespace, "addr", "add", "\(host.address)/24", "dev", "eth0"])
                try Self.shell([Self.ip, "-n", host.namespace, "link", "set", "eth0", "up"])
                try Self.shell([Self.ip, "-n", host.namespace, "link", "set", "lo", "up"])  // epmd and rabbitmqctl use it
            }
            // Both sets boot side by side (the three RabbitMQ nodes are the slow part).
            nonisolated(unsafe) var haPrinted: Result<String, Error> = .success("")
            let haDone = DispatchSemaphore(value: 0)
            let haStart = Self.exec(on: .haServers) + ["/bin/bash", Self.script, "start", "--ha"], haSettings = haEnvironment
            Thread {
                haPrinted = Result { try NetworkHosts.shell(haStart, environment: haSettings) }
                haDone.signal()
            }.start()
            let singleStart = Self.exec(on: .servers) + ["/bin/bash", Self.script, "start"], singleSettings = serverEnvironment
            let printed = Result { try Self.shell(singleStart, environment: singleSettings) }
            haDone.wait()
            let urls = Self.lines(try printed.get()), haURLs = Self.lines(try haPrinted.get())
            amqp = try Endpoint.brokers(urls["EAST_AMQP_URL"], environment: [:])
            redis = try Endpoint.redis(urls["EAST_REDIS_URL"], environment: [:])
            haAMQP = try Endpoint.brokers(haURLs["EAST_AMQP_URL"], environment: [:])
            haRedis = try Endpoint.redis(haURLs["EAST_REDIS_URL"], environment: [:])
        } catch {
            Self.removeAll()
            throw error
        }
    }

    /// `NAME=value` lines, as servers.sh prints them.
    static func lines(_ printed: String) -> [String: String] {
        var values: [String: String] = [:]
        for line in printed.split(separator: "\n") {
            let pair = line.split(separator: "=", maxSplits: 1).map(String.init)
            if pair.count == 2 { values[pair[0]] = pair[1] }
        }
        return values
    }

    /// Ends every process on the hosts (all of them this test's), deletes
    /// the namespaces, the bridge and the files.
    func remove() { Self.removeAll() }

    static func removeAll() {
        let namespaces = ((try? shell([ip, "netns", "list"])) ?? "").split(separator: "\n")
            .compactMap { $0.split(separator: " ").first.map(String.init) }.filter { $0.hasPrefix(prefix) }
        for namespace in namespaces {
            for _ in 0..<50 {
                let pids = ((try? shell([ip, "netns", "pids", namespace])) ?? "").split(separator: "\n").compactMap { pid_t($0) }
                if pids.isEmpty { break }
                for pid in pids { kill(pid, SIGKILL) }
                Thread.sleep(forTimeInterval: 0.1)
            }
            _ = try? shell([ip, "netns", "del", namespace])
        }
        // Deleting a namespace deletes its veth pairs; a pair half made before a crash may remain.
        for host in Host.allCases { _ = try? shell([ip, "link", "del", host.link]) }
        _ = try? shell([ip, "link", "del", bridge])
        try? FileManager.default.removeItem(at: folder)
    }

    /// The command prefix that runs a program on `host`.
    static func exec(on host: Host) -> [String] { [ip, "netns", "exec", host.namespace] }

    /// A launcher of the workers' executables, on any host, against these
    /// servers: policies travel through Redis and every worker starts with
    /// an empty cache of its own (`caches-<id>/<name>`); no folder is shared.
    func cluster(highlyAvailable: Bool = false) throws -> LocalCluster {
        let id = UUID().uuidString.prefix(8)
        return try LocalCluster(binDirectory: LocalCluster.binDirectory(), amqp: highlyAvailable ? haAMQP : amqp, redis: highlyAvailable ? haRedis : redis,
                                caches: Self.folder.appendingPathComponent("caches-\(id)"), logs: Self.folder.appendingPathComponent("logs-\(id)"))
    }

    /// The highly available set's first Redis port (servers.sh's default; the second node's is the next).
    let haRedisBasePort = 6391

    /// SIGKILL of one server of the highly available set (`rabbit-N`, `redis-N`, `sentinel-N`).
    func killServer(_ server: String) throws {
        try Self.shell(Self.exec(on: .haServers) + ["/bin/bash", Self.script, "kill", server], environment: haEnvironment)
    }

    /// Starts whatever of the highly available set is down (a Redis node as
    /// a replica of the primary the sentinels name).
    func restartHighlyAvailableSet() throws {
        try Self.shell(Self.exec(on: .haServers) + ["/bin/bash", Self.script, "start", "--ha"], environment: haEnvironment)
    }

    /// Each quorum queue of the highly available set: the node (1-3) that
    /// leads it and the nodes holding a replica, as the first node that
    /// answers says.
    func queueNodes() throws -> [String: (leader: Int?, members: Set<Int>)] {
        let rabbitmq = URL(fileURLWithPath: haEnvironment["EAST_SERVERS_DIR"]!).appendingPathComponent("ha/rabbitmq").path
        // "east-ha5681-2@localhost" -> 2
        func node(_ name: Substring) -> Int? { name.split(separator: "@").first?.split(separator: "-").last.flatMap { Int($0) } }
        for n in 1...3 {
            guard let queues = try? Self.shell(Self.exec(on: .haServers) + ["/usr/lib/rabbitmq/bin/rabbitmqctl", "-q", "-n", "east-ha5681-\(n)@localhost",
                                                                            "list_queues", "-p", "east", "--no-table-headers", "name", "leader", "members"],
                                               environment: ["HOME": rabbitmq]) else { continue }
            var result: [String: (leader: Int?, members: Set<Int>)] = [:]
            // "east.sample\teast-ha5681-2@localhost\t[east-ha5681-1@localhost, east-ha5681-3@localhost, ...]"
            for line in queues.split(separator: "\n") {
                let fields = line.split(separator: "\t")
                guard fields.count == 3 else { continue }
                let members = fields[2].trimmingCharacters(in: CharacterSet(charactersIn: "[]")).split(separator: ",")
                result[String(fields[0])] = (node(fields[1]), Set(members.compactMap { node(Substring($0.trimmingCharacters(in: .whitespaces))) }))
            }
            return result
        }
        return [:]
    }

    /// The node (1-3) of the highly available set that leads `queue`.
    func leader(of queue: String) throws -> Int? { try queueNodes()[queue]?.leader ?? nil }

    /// Pulls the host's cable: its end on the bridge goes down, so its
    /// packets vanish (no reset reaches either side).
    func linkDown(_ host: Host) throws { try Self.shell([Self.ip, "link", "set", host.link, "down"]) }
    func linkUp(_ host: Host) throws { try Self.shell([Self.ip, "link", "set", host.link, "up"]) }

    /// SIGKILL of Redis and a start on its AOF (scripts/servers.sh restart-redis).
    func restartRedis() throws {
        try Self.shell(Self.exec(on: .servers) + ["/bin/bash", Self.script, "restart-redis"], environment: serverEnvironment)
    }

    /// Deliveries the broker holds unacked on `host`'s channels (rabbitmqctl
    /// runs on the servers' host: the Erlang distribution is on its loopback).
    func unacked(on host: Host) throws -> Int {
        let rabbitmq = URL(fileURLWithPath: serverEnvironment["EAST_SERVERS_DIR"]!).appendingPathComponent("rabbitmq").path
        let channels = try Self.shell(Self.exec(on: .servers) + ["/usr/lib/rabbitmq/bin/rabbitmqctl", "-q", "-n", "east-5672@localhost",
                                                                   "list_channels", "name", "messages_unacknowledged"],
                                      environment: ["HOME": rabbitmq])
        // A channel's name starts with its client's address: "10.77.0.4:41234 -> 10.77.0.1:5672 (1)".
        return channels.split(separator: "\n").filter { $0.hasPrefix(host.address + ":") }
            .compactMap { $0.split(separator: "\t").last.flatMap { Int($0) } }.reduce(0, +)
    }

    static let script = ClusterHarness.root.appendingPathComponent("scripts/servers.sh").path

    /// Runs a command to its end; its stdout, or an error with its stderr.
    /// Not with Foundation's `Process`: on Linux it learns of a child's exit
    /// through a socket the child inherits, which the servers servers.sh
    /// leaves running would hold open, so it would wait for them too.
    @discardableResult
    static func shell(_ arguments: [String], environment extra: [String: String] = [:]) throws -> String {
        var environment = ProcessInfo.processInfo.environment
        // The loopback servers' settings of scripts/test.sh must not leak into the hosts' servers.
        for key in environment.keys where key.hasPrefix("EAST_") { environment[key] = nil }
        environment.merge(extra) { $1 }
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("east\(NetworkHosts.tag)n-\(UUID().uuidString).out")
        let err = out.deletingPathExtension().appendingPathExtension("err")
        defer { try? FileManager.default.removeItem(at: out); try? FileManager.default.removeItem(at: err) }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, out.path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, err.path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var pid = pid_t()
        let spawned = posix_spawn(&pid, arguments[0], &actions, nil, argv, envp)
        guard spawned == 0 else {
            throw ShellError(command: arguments.joined(separator: " "), status: -1, stderr: String(cString: strerror(spawned)))
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0, errno == EINTR {}
        let exitStatus = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        guard exitStatus == 0 else {
            throw ShellError(command: arguments.joined(separator: " "), status: exitStatus,
                             stderr: (try? String(contentsOf: err, encoding: .utf8)) ?? "")
        }
        return (try? String(contentsOf: out, encoding: .utf8)) ?? ""
    }

    struct ShellError: Error, CustomStringConvertible {
        let command: String
        let status: Int32
        let stderr: String
        var description: String { "\(command) exited with \(status): \(stderr.trimmingCharacters(in: .whitespacesAndNewlines))" }
    }

    /// The hosts of the suite running now (see `HostsTrait`).
    @TaskLocal static var current: NetworkHosts?
}

/// Builds the hosts once for a whole suite and removes them after its last
/// test, failed or not (the RabbitMQ boot is the slow part).
struct HostsTrait: SuiteTrait, TestScoping {
    var isRecursive: Bool { false }

    func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        guard NetworkHosts.whyUnavailable == nil else { return try await function() }
        // The names are fixed, so two test processes on one machine take turns
        // (the lock goes with a crashed process; its leftovers are then removed).
        let lock = open(NetworkHosts.folder.path + ".lock", O_CREAT | O_RDWR, 0o600)
        defer { close(lock) }
        guard lock >= 0, flock(lock, LOCK_EX) == 0 else { throw NetworkHosts.ShellError(command: "flock", status: errno, stderr: "cannot lock") }
        let hosts = try NetworkHosts()
        defer { hosts.remove() }
        try await NetworkHosts.$current.withValue(hosts) { try await function() }
    }
}

extension Trait where Self == HostsTrait {
    static var networkHosts: Self { Self() }
}
