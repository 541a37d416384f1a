import ArgumentParser
import EASTCluster
import EASTCommandLine
import EASTStages
import Foundation

extension BenchCommand {
    /// `east bench cluster`: the price and the gain of distributing. One
    /// iteration through the cluster against the same work in one process
    /// (same seed, so the same samples, weights and batches), and the cluster
    /// with one sampler against two. Needs the servers (scripts/servers.sh start).
    struct Cluster: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Cluster vs one process, and 1 vs 2 samplers, on one iteration.")

        @OptionGroup var workers: WorkerOptions
        @Option(help: "Train questions.") var trainCount = 512
        @Option(help: "Test questions.") var testCount = 100
        @Option(help: "Folder for the workers' logs.") var logs = ".east-logs/bench"

        func run() throws {
            relaunchWithFasterBLASKernelsIfNeeded()
            try failing {
                let env = try workers.environment(role: "bench")
                let spec = try RunOptions.parse(["--train-count", "\(trainCount)", "--test-count", "\(testCount)", "--iterations", "1"]).spec

                let start = Date()
                let outcome = try InProcessRun(spec: spec).run(id: "bench-inprocess") { _ in }
                let inProcessSeconds = Date().timeIntervalSince(start)
                say(String(format: "in one process: %.1f s (accuracy %.1f%% -> %.1f%%)", inProcessSeconds,
                           (outcome.accuracy[0] ?? .nan) * 100, (outcome.accuracy[1] ?? .nan) * 100))

                func clusterSeconds(samplers: Int) throws -> (Double, Double) {
                    let cluster = try LocalCluster(binDirectory: LocalCluster.binDirectory(), amqp: env.amqp, redis: env.redis,
                                                   store: env.store.root.path, logs: URL(fileURLWithPath: logs))
                    try cluster.startWorkers(samplers: samplers)
                    defer { cluster.stop() }
                    let run = "bench-\(samplers)-\(UUID().uuidString.prefix(6))"
                    let t0 = Date()
                    let outcome = try Coordinator(environment: env, spec: spec, run: run, progress: { _ in }).run(stop: StopFlag())
                    return (Date().timeIntervalSince(t0), outcome.accuracy[1] ?? .nan)
                }
                let (one, accuracyOne) = try clusterSeconds(samplers: 1)
                say(String(format: "cluster, 1 sampler: %.1f s (accuracy after %.1f%%)", one, accuracyOne * 100))
                let (two, accuracyTwo) = try clusterSeconds(samplers: 2)
                say(String(format: "cluster, 2 samplers: %.1f s (accuracy after %.1f%%)", two, accuracyTwo * 100))
                say(String(format: "cluster (2 samplers) / one process: %.2fx the time; 2 samplers / 1 sampler: %.2fx the time",
                           two / inProcessSeconds, two / one))
            }
        }
    }
}
