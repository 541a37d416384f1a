import ArgumentParser
import EASTCluster
import EASTCommandLine

/// The clusterer worker: see `ClustererWorker` in EASTCluster.
@main
struct ClustererCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "east-clusterer", abstract: "EAST clusterer worker.")
    @OptionGroup var options: WorkerOptions

    func run() throws {
        try runWorker(role: "clusterer", options: options) { env, shutdown in
            try ClustererWorker(environment: env).run(shutdown: shutdown)
        }
    }
}
