import ArgumentParser
import EASTCluster
import EASTCommandLine

/// The sampler worker: see `SamplerWorker` in EASTCluster.
@main
struct SamplerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "east-sampler", abstract: "EAST sampler worker.")
    @OptionGroup var options: WorkerOptions

    func run() throws {
        try runWorker(role: "sampler", options: options) { env, shutdown in
            try SamplerWorker(environment: env).run(shutdown: shutdown)
        }
    }
}
