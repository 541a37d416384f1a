import EASTCluster
import EASTCore
import Foundation
import Testing

/// Shutdown without a thread left behind: a worker's loop, the metrics
/// server and the AMQP client join their threads before they return, so
/// nothing a thread held (a connection, an OpenSSL session) is torn down
/// while `exit()` runs the libraries' destructors.
@Suite struct ShutdownTests {
    /// Sets its flag when released.
    final class Probe: @unchecked Sendable {
        let released: LockedValue<Bool>
        init(_ released: LockedValue<Bool>) { self.released = released }
        deinit { released.value = true }
    }

    @Test func aJoinedThreadHasReleasedWhatItsBodyHeld() {
        for _ in 0..<100 {
            let released = LockedValue(false)
            let thread = JoinableThread(name: "probe") { [probe = Probe(released)] in _ = probe }
            thread.join()
            #expect(released.value)
            thread.join()  // twice is harmless
        }
    }

    /// The service is the loop's only other holder: once `run()` has returned
    /// and the service is gone, so is everything its loop captured. (A loop
    /// thread that let go after resuming its caller released it later, on
    /// its own thread, racing the caller.)
    @Test func aServiceReturnsOnlyAfterItsLoopThreadLetGo() async throws {
        var late = 0
        for _ in 0..<200 {
            let released = LockedValue(false)
            try await BlockingService(name: "probe") { [probe = Probe(released)] _ in _ = probe }.run()
            if !released.value { late += 1 }
        }
        #expect(late == 0, "\(late) of 200 loops released their captures after run() returned")
    }

    @Test func theMetricsServerJoinsItsThreadOnClose() throws {
        let server = try MetricsServer(address: "127.0.0.1", port: 0, metrics: { "up 1\n" }, ready: { true })
        #expect(try ClusterTests.get(port: server.port, path: "/metrics").1 == "up 1\n")
        server.close()
        // Closed and joined: nothing listens any more.
        #expect(throws: POSIXError.self) { try ClusterTests.get(port: server.port, path: "/healthz") }
    }
}

extension ClusterTests {
    /// Many workers stopped at once, each with its connections open: every
    /// one exits 0 (glibc's heap-corruption abort is exit status 134).
    @Test func workersStoppedTogetherAllExitCleanly() throws {
        let cluster = try ClusterHarness.cluster()
        defer { cluster.stop() }
        let names = (1...4).map { "stopper-\($0)" } + ["stopper-clusterer", "stopper-evaluator"]
        for name in names.prefix(4) { try cluster.start(.sampler, name: name, arguments: ["--metrics-port", "0"]) }
        try cluster.start(.clusterer, name: names[4], arguments: ["--metrics-port", "0"])
        try cluster.start(.evaluator, name: names[5], arguments: ["--metrics-port", "0"])
        #expect(ClusterHarness.waitFor(timeout: 30) { names.allSatisfy { cluster.log($0).contains("metrics and probes on") } })
        let processes = try names.map { try #require(cluster.processes[$0]) }
        for process in processes { process.terminate() }
        #expect(ClusterHarness.waitFor(timeout: 20) { processes.allSatisfy { !$0.isRunning } })
        for (name, process) in zip(names, processes) {
            #expect(process.terminationStatus == 0, "\(name) exited \(process.terminationStatus): \(cluster.log(name).suffix(400))")
        }
    }
}
