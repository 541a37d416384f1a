import EASTCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A minimal HTTP/1.0 server for operators and orchestrators: `GET /metrics`
/// (Prometheus text format), `GET /healthz` (liveness: 200 while the process
/// answers) and `GET /readyz` (readiness: 200 when the worker is connected
/// to a broker node and to Redis, 503 when not; `/health` is the same). One
/// thread, one request at a time: scrapes and probes are rare and small, so
/// a full HTTP stack (and its minutes of build) is not worth it here.
public final class MetricsServer: @unchecked Sendable {
    private let socketFD: Int32
    public let port: Int
    private let metrics: @Sendable () -> String
    private let ready: @Sendable () -> Bool
    private var thread: JoinableThread?

    public struct StartError: Error, CustomStringConvertible {
        public let reason: String
        public var description: String { "metrics server: \(reason)" }
    }

    /// Listens on `address:port` (port 0 picks a free one; see `port`).
    public init(address: String, port: Int, metrics: @escaping @Sendable () -> String, ready: @escaping @Sendable () -> Bool) throws {
        self.metrics = metrics
        self.ready = ready
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw StartError(reason: "socket() failed (errno \(errno))") }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, address, &addr.sin_addr) == 1 else {
            Glibc.close(fd)
            throw StartError(reason: "bad address \(address)")
        }
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 16) == 0 else {
            Glibc.close(fd)
            throw StartError(reason: "cannot listen on \(address):\(port) (errno \(errno))")
        }
        var actual = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        socketFD = fd
        self.port = Int(UInt16(bigEndian: actual.sin_port))
        thread = JoinableThread(name: "metrics", stackSize: 1 << 20) { [self] in serve() }
    }

    /// Stops listening: the accept loop ends, and its thread is joined.
    public func close() {
        shutdown(socketFD, Int32(SHUT_RDWR))
        thread?.join()
    }

    private func serve() {
        while true {
            let client = accept(socketFD, nil, nil)
            guard client >= 0 else { if errno == EINTR { continue } else { return } }
            handle(client)
            Glibc.close(client)
        }
    }

    private func handle(_ client: Int32) {
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var buffer = [UInt8](repeating: 0, count: 2048)
        let n = read(client, &buffer, buffer.count)
        guard n > 0 else { return }
        let requestLine = String(decoding: buffer[0..<n], as: UTF8.self).split(separator: "\r\n").first ?? ""
        let parts = requestLine.split(separator: " ")
        let path = parts.count >= 2 ? String(parts[1]) : ""
        let (status, body, type): (String, String, String)
        switch (parts.first.map(String.init), path) {
        case ("GET", "/metrics"): (status, body, type) = ("200 OK", metrics(), "text/plain; version=0.0.4")
        case ("GET", "/healthz"): (status, body, type) = ("200 OK", "alive\n", "text/plain")
        case ("GET", "/readyz"), ("GET", "/health"):
            (status, body, type) = ready() ? ("200 OK", "ok\n", "text/plain")
                : ("503 Service Unavailable", "not connected to a broker node and Redis\n", "text/plain")
        default: (status, body, type) = ("404 Not Found", "try /metrics, /healthz or /readyz\n", "text/plain")
        }
        let response = "HTTP/1.0 \(status)\r\nContent-Type: \(type)\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
        let bytes = Array(response.utf8)
        var sent = 0
        while sent < bytes.count {
            let w = bytes[sent...].withUnsafeBytes { write(client, $0.baseAddress, $0.count) }
            guard w > 0 else { return }
            sent += w
        }
    }
}
