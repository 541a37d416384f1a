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

    @Option(help: "Threads for the engine (matrix products and parallel loops).")
    var threads = 1

    @Option(help: "Save the final policy to this checkpoint directory.")
    var out: String?

    @Option(help: "Run id, the report's folder name (default: inprocess-<time>).")
    var runID: String?

    @Option(help: "Folder for the run report (Markdown and SVG plots).")
    var report = "runs"

    @Option(help: "A RunSpec JSON file (as `east experiment` writes them); run options given too are laid over it.")
    var spec: String?

    @Option(help: "A folder where samples and greedy answers are kept by content address and reused: runs that sample the same policy with the same seeds (an experiment's first iteration) sample once.")
    var sampleCache: String?

    @Option(help: ArgumentHelp("Exit when the process with this pid is no longer the parent (east experiment's runs die with it).", visibility: .hidden))
    var exitWithParent: Int32?

    func validate() throws { try validateThreads(threads) }

    func run() throws {
        relaunchWithFasterBLASKernelsIfNeeded()
        if let parent = exitWithParent { exitWhenOrphaned(parent: parent) }
        try failing {
            guard inprocess else {
                throw ValidationError("the cluster mode is started with `east cluster up` (scripts/cluster.sh); use --inprocess to run in this process")
            }
            BLASThreads.set(threads)
            var runSpec = RunSpec.defaults
            if let spec {
                guard let data = FileManager.default.contents(atPath: spec) else { throw ValidationError("cannot read \(spec)") }
                runSpec = try JSONCoding.decode(RunSpec.self, from: data, what: spec)
            }
            options.apply(to: &runSpec)
            let runner = try InProcessRun(spec: runSpec, store: sampleCache.map { FolderSampleStore(folder: URL(fileURLWithPath: $0)) })
            let id = runID ?? "inprocess-\(Int(Date().timeIntervalSince1970))"
            try SafeName.check(id, what: "--run-id")
            let outcome = try runner.run(id: id, progress: say)
            let folder = try RunReport.write(outcome, to: URL(fileURLWithPath: report).appendingPathComponent(outcome.run))
            say("report: \(folder.appendingPathComponent("report.md").path)")
            if let out { try runner.policy.save(to: URL(fileURLWithPath: out)) }
        }
    }
}

/// A child whose parent was killed (even with SIGKILL) is re-parented; it
/// notices within a second and exits, so a rerun never races a stale child.
/// `_exit`, not `exit`: the run's threads are still working, and `exit` would
/// run the libraries' destructors (OpenBLAS's buffers, OpenSSL's tables) under them.
func exitWhenOrphaned(parent: Int32) {
    let watcher = Thread {
        while getppid() == parent { Thread.sleep(forTimeInterval: 0.5) }
        printError("east: the parent process \(parent) is gone; stopping")
        _exit(1)
    }
    watcher.start()
}
