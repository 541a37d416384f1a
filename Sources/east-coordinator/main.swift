import ArgumentParser
import EASTCluster
import EASTCore
import EASTCommandLine
import EASTStages
import EASTTransport
import Foundation

/// The coordinator: see `Coordinator` in EASTCluster. Restarting it with the
/// same --run-id (and no other settings) resumes the run from its spec in Redis.
@main
struct CoordinatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "east-coordinator", abstract: "EAST run coordinator.")
    @OptionGroup var options: WorkerOptions
    @OptionGroup var runOptions: RunOptions

    @Option(help: "Run id: resumes the run when it exists (from its stored settings), else starts it (default: a new id).")
    var runID: String?

    @Option(help: "Folder for the run report (Markdown and SVG plots).")
    var report = "runs"

    @Option(help: "Fail the run after this many of its messages were requeued after errors (any dead letter fails it at once).")
    var maxRequeues = 10

    @Option(help: "Sampling jobs of the run in the queue at most (published but not yet recorded); more follow as records come in.")
    var maxQueuedJobs = 256

    @Option(help: "Questions per sampling job (default: the coordinator's; the samples do not depend on it).")
    var questionsPerJob: Int?

    func run() async throws {
        let id = runID ?? "run-\(Int(Date().timeIntervalSince1970))"
        try failing { try SafeName.check(id, what: "--run-id") }
        let runOptions = runOptions, report = report, maxRequeues = maxRequeues, maxQueuedJobs = maxQueuedJobs, questionsPerJob = questionsPerJob
        try await options.runService(role: "coordinator") { env, stop in
            // A resumed run starts from its stored spec; options given now must agree with it.
            var spec = try RunState(redis: RedisConnection(address: env.redis), run: id).spec() ?? RunSpec.defaults
            runOptions.apply(to: &spec)
            let coordinator = Coordinator(environment: env, spec: spec, run: id, progress: { say($0) })
            coordinator.maxRequeues = maxRequeues
            coordinator.maxQueuedJobs = maxQueuedJobs
            if let questionsPerJob {
                guard questionsPerJob >= 1 else { throw RunSpec.Invalid(setting: "--questions-per-job", reason: "must be at least 1, got \(questionsPerJob)") }
                coordinator.questionsPerJob = questionsPerJob
            }
            let outcome = try coordinator.run(stop: stop)
            let folder = try RunReport.write(outcome, to: URL(fileURLWithPath: report).appendingPathComponent(id))
            say(try String(contentsOf: folder.appendingPathComponent("report.md"), encoding: .utf8))
        }
    }
}
