import ArgumentParser
import EASTCommandLine
import EASTCore
import EASTEngine
import EASTStages
import Foundation

struct SelfTrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "selftrain",
        abstract: "Run EAST self-training: sample, cluster and weigh, train, evaluate, T times.")

    @OptionGroup var options: RunOptions

    @Flag(help: "Run every stage in this process (the cluster runs them on workers).")
    var inprocess = false

    @Option(help: "OpenBLAS threads.")
    var threads = 1

    @Option(help: "Save the final policy to this checkpoint directory.")
    var out: String?

    func run() throws {
        relaunchWithFasterBLASKernelsIfNeeded()
        try failing {
            guard inprocess else {
                throw ValidationError("the cluster mode is started with scripts/cluster.sh; use --inprocess to run in this process")
            }
            BLASThreads.set(threads)
            let runner = try InProcessRun(spec: options.spec)
            _ = try runner.run(progress: say)
            if let out { try runner.policy.save(to: URL(fileURLWithPath: out)) }
        }
    }
}
