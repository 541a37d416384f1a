import ArgumentParser
import EASTCommandLine
import EASTCore
import EASTEngine
import EASTStages
import Foundation

struct SelfTrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "selftrain",
        abstract: "Run EAST self-training in this process: sample, cluster and weigh, train, evaluate, T times.",
        discussion: "The cluster runs the same stages on workers: `east cluster up` (or scripts/cluster.sh).")

    @OptionGroup var options: RunOptions

    @Flag(help: "Run every stage in this process (required: the cluster is `east cluster up`).")
    var inprocess = false

    @Option(help: "OpenBLAS threads.")
    var threads = 1

    @Option(help: "Save the final policy to this checkpoint directory.")
    var out: String?

    @Option(help: "Run id, the report's folder name (default: inprocess-<time>).")
    var runID: String?

    @Option(help: "Folder for the run report (Markdown and SVG plots).")
    var report = "runs"

    @Option(help: "A RunSpec JSON file (as `east experiment` writes them); run options given too are laid over it.")
    var spec: String?

    func run() throws {
        relaunchWithFasterBLASKernelsIfNeeded()
        try failing {
            guard inprocess else {
                throw ValidationError("the cluster mode is started with `east cluster up` (scripts/cluster.sh); use --inprocess to run in this process")
            }
            BLASThreads.set(threads)
            var runSpec = RunOptions.defaults
            if let spec {
                guard let data = FileManager.default.contents(atPath: spec) else { throw ValidationError("cannot read \(spec)") }
                runSpec = try JSONCoding.decode(RunSpec.self, from: data, what: spec)
            }
            options.apply(to: &runSpec)
            let runner = try InProcessRun(spec: runSpec)
            let outcome = try runner.run(id: runID ?? "inprocess-\(Int(Date().timeIntervalSince1970))", progress: say)
            let folder = try RunReport.write(outcome, to: URL(fileURLWithPath: report).appendingPathComponent(outcome.run))
            say("report: \(folder.appendingPathComponent("report.md").path)")
            if let out { try runner.policy.save(to: URL(fileURLWithPath: out)) }
        }
    }
}
