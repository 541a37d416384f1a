import EASTCluster
import EASTTestSupport
import EASTTransport
import Foundation
import Testing

/// A whole EAST run over TLS: RabbitMQ and Redis of the test's own that speak
/// only TLS (`amqps://`, `rediss://`, a CA made at test time), every worker
/// and the coordinator given those URLs with `?cafile=`, policies through
/// Redis. Its results equal the in-process run's.
@Suite struct TLSClusterTests {
    @Test(.enabled(if: TLSServers.toolsAvailable, "needs openssl, rabbitmq-server and redis-server (with TLS)"),
          .timeLimit(.minutes(5)))
    func aRunOverTLSEqualsTheInProcessRun() throws {
        let servers = try TLSServers()
        defer { servers.stop() }
        #expect(servers.amqp.scheme == "amqps" && servers.redis.scheme == "rediss")
        #expect(servers.amqp.url.contains("cafile=") && servers.redis.url.contains("cafile="))
        let cluster = try LocalCluster(binDirectory: LocalCluster.binDirectory(), amqp: [servers.amqp], redis: .server(servers.redis),
                                       caches: ClusterHarness.temporaryFolder("tls-caches"), logs: ClusterHarness.temporaryFolder("tls-logs"))
        defer { cluster.stop() }
        try cluster.startWorkers(samplers: 1)
        let run = "test-tls-\(UUID().uuidString.prefix(6))"
        let (status, output) = try cluster.runCoordinator(run: run, extra: ["--questions-per-job", "4"])
        try #require(status == 0, "\(output)\nsampler: \(cluster.log("sampler-1").suffix(2000))\ntrainer: \(cluster.log("trainer").suffix(2000))")
        #expect(cluster.log("sampler-1").contains("amqps://"), "\(cluster.log("sampler-1").prefix(500))")
        let state = RunState(redis: try RedisConnection(endpoint: servers.redis), run: run)
        #expect(try state.recordCount(iteration: 1) == 16)
        try InProcessReference.expectSameResults(state)
    }
}
