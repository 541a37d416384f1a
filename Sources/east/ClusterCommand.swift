import ArgumentParser
import EASTCluster
import EASTCommandLine
import Foundation

/// `east cluster up`: the whole cluster on this machine, the main job. It
/// launches evaluator, trainer, clusterer and the samplers (logs in
/// `--logs`), runs the coordinator with the run options given after `--`
/// (its output here), and stops every worker when the run ends or on
/// SIGTERM/SIGINT. Retention, heartbeat and thread options given to it go
/// to every worker and the coordinator. The servers must be up (scripts/servers.sh start).
struct ClusterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster", abstract: "Run the cluster on this machine.", subcommands: [Up.self])

    struct Up: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Launch the workers, run one coordinator to the end, stop the workers.",
            discussion: "Example: east cluster up --samplers 2 -- --train-count 512 --iterations 2")

        @OptionGroup var workers: WorkerOptions
        @Option(help: "Sampler replicas.") var samplers = 2
        @Option(help: "Evaluator replicas (they share each policy version's test set in shards).") var evaluators = 1
        @Option(help: "Folder for the workers' logs.") var logs = ".east-logs"
        @Argument(parsing: .postTerminator, help: "Arguments for east-coordinator (run options, --run-id, --report).")
        var coordinator: [String] = []

        func run() async throws {
            let samplers = samplers, evaluators = evaluators, logs = logs, coordinator = coordinator, forwarded = workers.forwarded
            try await workers.runService(role: "launcher") { env, stop in
                let cluster = try LocalCluster(binDirectory: LocalCluster.binDirectory(), amqp: env.amqp, redis: env.redis,
                                               policies: env.policies.location, logs: URL(fileURLWithPath: logs))
                defer { cluster.stop() }
                try cluster.startWorkers(samplers: samplers, evaluators: evaluators,
                                         arguments: Dictionary(uniqueKeysWithValues: Role.allCases.map { ($0, forwarded) }))
                say("workers up (logs in \(logs)); watch them with: east status --watch")
                // The coordinator's own options after `--` come last, so they win.
                let process = try cluster.start(.coordinator, name: "coordinator", arguments: forwarded + coordinator, echo: true)
                while process.isRunning {
                    if stop.isRequested { process.terminate() }  // it prints what it interrupted
                    Thread.sleep(forTimeInterval: 0.2)
                }
                let status = cluster.wait("coordinator", timeout: 60)
                guard status == 0 else { throw ExitCode(status) }
            }
        }
    }
}
