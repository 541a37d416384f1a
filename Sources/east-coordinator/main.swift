import ArgumentParser
import EASTCluster
import EASTCommandLine
import Foundation

/// The coordinator: see `Coordinator` in EASTCluster. Restarting it with the
/// same --run resumes the run where it was.
@main
struct CoordinatorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "east-coordinator", abstract: "EAST run coordinator.")
    @OptionGroup var options: WorkerOptions
    @OptionGroup var runOptions: RunOptions

    @Option(help: "Run id (resumes the run when it exists; default: a new id).")
    var runID: String?

    @Option(help: "Folder for the run report (Markdown and SVG plots).")
    var report = "runs"

    func run() throws {
        try runWorker(role: "coordinator", options: options) { env, shutdown in
            let id = runID ?? "run-\(Int(Date().timeIntervalSince1970))"
            let coordinator = Coordinator(environment: env, spec: runOptions.spec, run: id, progress: { say($0) })
            let outcome = try coordinator.run(shutdown: shutdown)
            let folder = try RunReport.write(outcome, spec: coordinator.spec, run: id, to: URL(fileURLWithPath: report).appendingPathComponent(id))
            say(try String(contentsOf: folder.appendingPathComponent("report.md"), encoding: .utf8))
        }
    }
}
