import ArgumentParser
import EASTCluster
import EASTCommandLine

/// The trainer worker: see `TrainerWorker` in EASTCluster. Start a second
/// one as a hot standby: the queue has a single active consumer.
@main
struct TrainerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "east-trainer", abstract: "EAST trainer worker.")
    @OptionGroup var options: WorkerOptions

    @Option(help: "Save model, optimizer and position (and ack) every K batches.")
    var checkpointEvery = 4

    func run() throws {
        try runWorker(role: "trainer", options: options) { env, shutdown in
            try TrainerWorker(environment: env, checkpointEvery: checkpointEvery).run(shutdown: shutdown)
        }
    }
}
