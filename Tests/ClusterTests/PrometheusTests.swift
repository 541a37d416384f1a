import EASTCluster
import EASTCore
import EASTTransport
import Foundation
import Testing

/// The operators' view, for real: Debian's prometheus with
/// docker/prometheus/prometheus.yml (its "# targets" blocks swapped for
/// this machine's ports) scrapes a running local cluster and the broker's
/// Prometheus plugin, and every query of the Grafana dashboard returns data
/// through Prometheus's HTTP API. (Part of the serialized cluster suite.)
extension ClusterTests {
    static let prometheusBinary = "/usr/bin/prometheus"

    /// A free loopback port (bound, read, closed).
    static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr)
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    /// The compose file's Prometheus configuration with each job's targets
    /// block replaced by static targets on this machine.
    static func localConfig(targets: [String: [String]]) throws -> String {
        let text = try String(contentsOf: ClusterHarness.root.appendingPathComponent("docker/prometheus/prometheus.yml"), encoding: .utf8)
        var out: [String] = [], job: String?, skipping = false
        for line in text.components(separatedBy: "\n") {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("- job_name:") {
                job = trimmed.components(separatedBy: ":").last?.trimmingCharacters(in: .whitespaces)
                skipping = false
            }
            if trimmed.hasPrefix("# targets"), let job, let list = targets[job] {
                out.append("    static_configs:")
                out.append("      - targets: [\(list.map { "\"\($0)\"" }.joined(separator: ", "))]")
                skipping = true
                continue
            }
            if skipping, !trimmed.isEmpty { continue }
            out.append(line)
        }
        return out.joined(separator: "\n")
    }

    /// The metrics port a worker logged at start.
    static func metricsPort(_ cluster: LocalCluster, _ name: String) -> Int? {
        var port: Int?
        _ = ClusterHarness.waitFor(timeout: 30) {
            let log = cluster.log(name)
            if let range = log.range(of: "http://127.0.0.1:"), let end = log[range.upperBound...].firstIndex(of: "/") {
                port = Int(log[range.upperBound..<end])
            }
            return port != nil
        }
        return port
    }

    static func query(port: Int, _ expression: String) throws -> [Any] {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        let encoded = expression.addingPercentEncoding(withAllowedCharacters: allowed)!
        let (status, body) = try get(port: port, path: "/api/v1/query?query=\(encoded)")
        guard status.contains("200"), let json = try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any],
              let data = json["data"] as? [String: Any], let result = data["result"] as? [Any] else { return [] }
        return result
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: prometheusBinary), "Debian's prometheus is not installed (apt-get install prometheus)"),
          .enabled(if: ProcessInfo.processInfo.environment["EAST_AMQP_PROMETHEUS"] != nil, "the broker's Prometheus plugin address is not set (scripts/servers.sh start prints EAST_AMQP_PROMETHEUS)"))
    func prometheusScrapesTheClusterAndEveryDashboardQueryAnswers() throws {
        let cluster = try ClusterHarness.cluster()
        defer { cluster.stop() }
        let metrics = ["--metrics-port", "0"]
        try cluster.startWorkers(samplers: 2, arguments: [.sampler: metrics, .trainer: metrics, .clusterer: metrics, .evaluator: metrics])
        let names = ["sampler-1", "sampler-2", "trainer", "clusterer", "evaluator"]
        let ports = names.compactMap { Self.metricsPort(cluster, $0) }
        #expect(ports.count == names.count)

        let web = Self.freePort()
        let dir = cluster.logs.appendingPathComponent("prometheus")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let config = try Self.localConfig(targets: ["east": ports.map { "127.0.0.1:\($0)" },
                                                    "rabbitmq": [ProcessInfo.processInfo.environment["EAST_AMQP_PROMETHEUS"]!]])
        #expect(!config.contains("dns_sd_configs") && config.contains("/metrics/per-object"))
        try config.write(to: dir.appendingPathComponent("prometheus.yml"), atomically: true, encoding: .utf8)
        let prometheus = Process()
        prometheus.executableURL = URL(fileURLWithPath: Self.prometheusBinary)
        prometheus.arguments = ["--config.file=\(dir.path)/prometheus.yml", "--storage.tsdb.path=\(dir.path)/data",
                                "--web.listen-address=127.0.0.1:\(web)"]
        let log = FileHandle(forWritingAtPath: dir.appendingPathComponent("log.txt").path) ?? {
            FileManager.default.createFile(atPath: dir.appendingPathComponent("log.txt").path, contents: nil)
            return FileHandle(forWritingAtPath: dir.appendingPathComponent("log.txt").path)!
        }()
        (prometheus.standardOutput, prometheus.standardError) = (log, log)
        try prometheus.run()
        defer { prometheus.terminate(); prometheus.waitUntilExit() }

        // A run, so that there is queue depth, work, loss and accuracy to see.
        let run = Self.uniqueRun("prometheus")
        let (status, output) = try cluster.runCoordinator(run: run)
        #expect(status == 0, "\(output)")

        let dashboard = try JSONSerialization.jsonObject(with: Data(contentsOf: ClusterHarness.root.appendingPathComponent("docker/grafana/dashboards/east.json"))) as? [String: Any]
        let panels = try #require(dashboard?["panels"] as? [[String: Any]])
        let expressions = panels.flatMap { ($0["targets"] as? [[String: Any]] ?? []).compactMap { $0["expr"] as? String } }
        #expect(expressions.count == panels.count && panels.count >= 5)
        for expression in expressions {
            let answered = ClusterHarness.waitFor(timeout: 60) { ((try? Self.query(port: web, expression)) ?? []).isEmpty == false }
            #expect(answered, "no data for \(expression)")
        }
        // Queue depth of each standard queue, and the samplers' utilisation, read back.
        let queues = try Self.query(port: web, "rabbitmq_queue_messages_ready").compactMap { (($0 as? [String: Any])?["metric"] as? [String: Any])?["queue"] as? String }
        #expect(Set(Topology.standard.queues.map(\.name)).isSubset(of: Set(queues)), "\(queues)")
        var roles: Set<String> = []
        _ = ClusterHarness.waitFor(timeout: 60) {
            let utilisation = (try? Self.query(port: web, expressions[1])) ?? []  // the dashboard's utilisation per role
            roles = Set(utilisation.compactMap { (($0 as? [String: Any])?["metric"] as? [String: Any])?["role"] as? String })
            return roles.isSuperset(of: ["sampler", "trainer", "evaluator", "clusterer"])
        }
        #expect(roles.isSuperset(of: ["sampler", "trainer", "evaluator", "clusterer"]), "\(roles)")
    }
}
