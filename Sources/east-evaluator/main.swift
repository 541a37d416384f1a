import ArgumentParser
import EASTCluster
import EASTCommandLine

/// The evaluator worker: see `EvaluatorWorker` in EASTCluster.
@main
struct EvaluatorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "east-evaluator", abstract: "EAST evaluator worker.")
    @OptionGroup var options: WorkerOptions

    func run() throws {
        try runWorker(role: "evaluator", options: options) { env, shutdown in
            try EvaluatorWorker(environment: env).run(shutdown: shutdown)
        }
    }
}
