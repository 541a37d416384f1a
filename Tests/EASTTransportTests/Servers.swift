import EASTTransport
import Foundation

/// The real servers that `scripts/test.sh` starts on loopback (see
/// `scripts/servers.sh`). `EAST_AMQP_URL` / `EAST_REDIS_URL` override them.
enum Servers {
    static var amqp: Endpoint {
        try! Endpoint(url: ProcessInfo.processInfo.environment["EAST_AMQP_URL"] ?? "amqp://guest:guest@127.0.0.1:5673/", defaultPort: 5672)
    }

    static var redis: Endpoint {
        try! Endpoint(url: ProcessInfo.processInfo.environment["EAST_REDIS_URL"] ?? "redis://127.0.0.1:6390", defaultPort: 6379)
    }

    /// A name no other test uses.
    static func unique(_ prefix: String) -> String { "\(prefix)-\(UUID().uuidString.prefix(8))" }
}
