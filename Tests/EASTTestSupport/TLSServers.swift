import EASTTransport
import Foundation

/// A RabbitMQ and a Redis of a test's own, listening only for TLS on free
/// loopback ports (`scripts/servers.sh` with `EAST_TLS_DIR`), with a CA and
/// a server certificate for `localhost` made at test time by the `openssl`
/// CLI, and a second, unrelated CA for the refusals.
public final class TLSServers {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// What the test needs installed; without it the test is skipped, visibly.
    public static var toolsAvailable: Bool {
        ["/usr/lib/rabbitmq/bin/rabbitmq-server"].allSatisfy(FileManager.default.isExecutableFile)
            && ["openssl", "redis-server", "redis-cli"].allSatisfy { executable(named: $0) != nil }
    }

    public let folder: URL
    public let amqp: Endpoint
    public let redis: Endpoint
    /// A CA that signed nothing these servers show.
    public let wrongCA: String
    private let environment: [String: String]

    public init() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("east-tls-\(UUID().uuidString.prefix(8))")
        let certificates = folder.appendingPathComponent("tls")
        try FileManager.default.createDirectory(at: certificates, withIntermediateDirectories: true)
        try Self.makeCertificates(in: certificates)
        wrongCA = folder.appendingPathComponent("wrong-ca.crt").path
        try Self.openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=some other CA",
                          "-keyout", folder.appendingPathComponent("wrong-ca.key").path, "-out", wrongCA], in: folder)
        let ports = try freePorts(4)
        environment = [
            "EAST_TLS_DIR": certificates.path, "EAST_SERVERS_DIR": folder.appendingPathComponent("servers").path,
            "EAST_AMQP_PORT": "\(ports[0])", "EAST_AMQP_DIST_PORT": "\(ports[1])",
            "EAST_REDIS_PORT": "\(ports[2])", "EAST_AMQP_PROMETHEUS_PORT": "\(ports[3])",
        ]
        let printed = try Self.run("/bin/bash", [Self.root.appendingPathComponent("scripts/servers.sh").path, "start"], environment: environment)
        let lines = Dictionary(printed.split(separator: "\n").compactMap { line -> (String, String)? in
            let parts = line.split(separator: "=", maxSplits: 1)
            return parts.count == 2 ? (String(parts[0]), String(parts[1])) : nil
        }, uniquingKeysWith: { $1 })
        amqp = try Endpoint.brokers(environment: lines)[0]
        guard case let .server(redis) = try Endpoint.redis(environment: lines) else { throw ProgramFailed(description: "servers.sh printed no single Redis URL") }
        self.redis = redis
    }

    /// Stops both servers and removes the folder.
    public func stop() {
        _ = try? Self.run("/bin/bash", [Self.root.appendingPathComponent("scripts/servers.sh").path, "stop"], environment: environment)
        try? FileManager.default.removeItem(at: folder)
    }

    /// ca.crt, and server.crt + server.key for DNS:localhost and IP:127.0.0.1, signed by it.
    private static func makeCertificates(in d: URL) throws {
        func p(_ name: String) -> String { d.appendingPathComponent(name).path }
        try "subjectAltName = DNS:localhost, IP:127.0.0.1\nbasicConstraints = CA:FALSE\nextendedKeyUsage = serverAuth\n"
            .write(toFile: p("server.ext"), atomically: true, encoding: .utf8)
        try openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=east test CA",
                     "-keyout", p("ca.key"), "-out", p("ca.crt")], in: d)
        try openssl(["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
                     "-keyout", p("server.key"), "-out", p("server.csr")], in: d)
        try openssl(["x509", "-req", "-in", p("server.csr"), "-CA", p("ca.crt"), "-CAkey", p("ca.key"), "-CAcreateserial",
                     "-days", "1", "-extfile", p("server.ext"), "-out", p("server.crt")], in: d)
        // The broker runs as this user and must read the key.
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: p("server.key"))
    }

    private static func openssl(_ arguments: [String], in folder: URL) throws {
        _ = try run(executable(named: "openssl")!, arguments, environment: [:])
    }

    /// Runs a program to its end; its standard output, or an error with both outputs.
    @discardableResult
    static func run(_ program: String, _ arguments: [String], environment: [String: String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let output = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let errors = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        // Reaped here: Foundation's waitUntilExit missed servers.sh's exit
        // (it stayed a zombie) once its daemons had been started.
        var status: Int32 = 0
        let exitCode: Int32
        if waitpid(process.processIdentifier, &status, 0) == process.processIdentifier {
            exitCode = (status >> 8) & 0xff
        } else {
            process.waitUntilExit()
            exitCode = process.terminationStatus
        }
        guard exitCode == 0 else {
            throw ProgramFailed(description: "\(program) \(arguments.joined(separator: " ")) exited with \(exitCode): \(errors)\(output)")
        }
        return output
    }

    struct ProgramFailed: Error, CustomStringConvertible { let description: String }

    static func executable(named name: String) -> String? {
        (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
            .map { "\($0)/\(name)" }.first(where: FileManager.default.isExecutableFile)
    }
}

/// `count` distinct TCP ports that were free on loopback a moment ago
/// (bound to port 0, read back, released).
func freePorts(_ count: Int) throws -> [Int] {
    var sockets: [Int32] = []
    defer { sockets.forEach { close($0) } }
    return try (0..<count).map { _ in
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        sockets.append(fd)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw TLSServers.ProgramFailed(description: "no free port on 127.0.0.1") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
