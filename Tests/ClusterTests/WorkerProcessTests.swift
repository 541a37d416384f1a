import EASTCluster
import Foundation
import Testing

/// A worker as an operator sees it: its probes and /metrics over HTTP, and a
/// clean exit on SIGTERM. (Part of the serialized cluster suite: its sampler
/// would otherwise compete for the other tests' jobs.)
extension ClusterTests {
    /// A plain HTTP/1.0 GET on loopback; returns status line and body.
    static func get(port: Int, path: String) throws -> (String, String) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr)
        let ok = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard ok == 0 else { throw POSIXError(.ECONNREFUSED) }
        let request = Array("GET \(path) HTTP/1.0\r\n\r\n".utf8)
        _ = request.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        var response = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(fd, &buffer, buffer.count)
            if n <= 0 { break }
            response += buffer[0..<n]
        }
        let text = String(decoding: response, as: UTF8.self)
        let parts = text.components(separatedBy: "\r\n\r\n")
        return (parts[0].components(separatedBy: "\r\n")[0], parts.dropFirst().joined(separator: "\r\n\r\n"))
    }

    @Test func healthMetricsAndCleanShutdown() throws {
        let cluster = try ClusterHarness.cluster()
        defer { cluster.stop() }
        try cluster.start(.sampler, name: "observed", arguments: ["--metrics-port", "0"])
        var port: Int?
        _ = ClusterHarness.waitFor(timeout: 30) {
            let log = cluster.log("observed")
            if let range = log.range(of: "http://127.0.0.1:"), let end = log[range.upperBound...].firstIndex(of: "/") {
                port = Int(log[range.upperBound..<end])
            }
            return port != nil
        }
        let p = try #require(port, "no metrics line in: \(cluster.log("observed"))")
        var health = ""
        _ = ClusterHarness.waitFor(timeout: 10) { health = (try? Self.get(port: p, path: "/health").0) ?? ""; return health.contains("200") }
        #expect(health == "HTTP/1.0 200 OK")
        #expect(try Self.get(port: p, path: "/healthz").0 == "HTTP/1.0 200 OK")
        #expect(try Self.get(port: p, path: "/readyz").0 == "HTTP/1.0 200 OK")
        let (status, metrics) = try Self.get(port: p, path: "/metrics")
        #expect(status == "HTTP/1.0 200 OK")
        #expect(metrics.contains("east_messages_total"))
        #expect(try Self.get(port: p, path: "/nope").0.contains("404"))

        let process = try #require(cluster.processes["observed"])
        process.terminate()  // SIGTERM
        #expect(ClusterHarness.waitFor(timeout: 10) { !process.isRunning })
        #expect(process.terminationStatus == 0)
        #expect(cluster.log("observed").contains("shutting down"))
    }

    /// Alive but not connected: /healthz answers 200 (no restart), /readyz 503.
    @Test func readinessFollowsTheConnections() throws {
        let health = Health()
        let server = try MetricsServer(address: "127.0.0.1", port: 0, metrics: { "" }, ready: { health.isReady })
        defer { server.close() }
        #expect(try Self.get(port: server.port, path: "/healthz").0 == "HTTP/1.0 200 OK")
        #expect(try Self.get(port: server.port, path: "/readyz").0 == "HTTP/1.0 503 Service Unavailable")
        #expect(try Self.get(port: server.port, path: "/health").0 == "HTTP/1.0 503 Service Unavailable")
    }
}
