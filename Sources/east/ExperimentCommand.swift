import ArgumentParser
import EASTCluster
import EASTCommandLine
import EASTCore
import EASTStages
import EASTTransport
import Foundation
import Yams

/// `east experiment`: the paper's tables and figures as one command. On the
/// cluster (the default) each run is a coordinator in this process driving
/// the shared workers, up to `--parallel` runs at once, its state in Redis;
/// with `--inprocess` each run is an `east selftrain --inprocess` child
/// process. Either way a run's report and per-question results land in
/// `DIR/runs/<run>/`, a run whose `report.md` exists is done, and rerunning
/// the same command after a kill finishes only what is missing. Then
/// `results.json`, `results.csv` and `report.md` with the figures.
struct ExperimentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "experiment",
        abstract: "Run an experiment (settings x seeds on one test set) and compare every setting with its baseline.",
        discussion: "Presets: \(ExperimentSpec.presetNames.joined(separator: ", ")). Examples: east experiment --preset table1 --parallel 2 "
            + "(on a running cluster: east cluster up), east experiment --preset table1 --inprocess --parallel 2")

    @Option(help: "Experiment spec, YAML or JSON.") var spec: String?
    @Option(help: "A built-in spec: \(ExperimentSpec.presetNames.joined(separator: ", ")).") var preset: String?
    @Flag(help: "Run every run in child processes on this machine instead of on the cluster.") var inprocess = false
    @Option(help: "Runs at once.") var parallel = 1
    @Option(help: "Output folder (default: experiments/<name>).") var out: String?
    @Option(help: "Bootstrap resamples.") var resamples = 2000
    @Option(help: "Cluster: fail a run after this many of its messages were requeued after errors.") var maxRequeues = 10
    @Flag(help: "Only rewrite DIR/report.md and its figures from DIR/results.json.") var reportOnly = false
    @OptionGroup var cluster: WorkerOptions

    func run() throws {
        try failing {
            let experiment = try loadSpec()
            try experiment.validate()
            guard parallel >= 1 else { throw RunSpec.Invalid(setting: "--parallel", reason: "must be at least 1, got \(parallel)") }
            let dir = URL(fileURLWithPath: out ?? "experiments/\(experiment.name)")
            if reportOnly {
                try refuseChangedSpec(experiment, in: dir)
                say(try ExperimentDriver(spec: experiment, folder: dir, mode: "report").rewriteReport())
                return
            }
            try FileManager.default.createDirectory(at: dir.appendingPathComponent("runs"), withIntermediateDirectories: true)
            try refuseChangedSpec(experiment, in: dir)
            printError("experiment \(experiment.name): \(experiment.settings.count) settings x \(experiment.seeds.count) seeds = \(experiment.runs.count) runs, "
                       + "\(experiment.test.count) test questions; " + detectable(experiment))
            var driver = ExperimentDriver(spec: experiment, folder: dir, mode: inprocess ? "inprocess" : "cluster")
            driver.parallel = parallel
            let progressFile = dir.appendingPathComponent("progress.json")
            if inprocess {
                driver.report = { p in
                    printError(p.summary)
                    try? AtomicFile.write(try p.encoded(), to: progressFile)
                }
                let east = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
                try driver.execute { run in try ChildProcessLane(east: east, run: run, folder: driver.runFolder(run)) }
            } else {
                let env = try cluster.environment(role: "experiment")
                let state = ExperimentState(redis: try RedisConnection(address: env.redis), name: experiment.name)
                try state.claim(experiment)
                driver.report = { p in
                    printError(p.summary)
                    try? AtomicFile.write(try p.encoded(), to: progressFile)
                    try? state.record(p)
                }
                let stop = StopFlag()
                try driver.execute { run in
                    try CoordinatorLane(run: state.runID(run), spec: run.spec, environment: env, folder: driver.runFolder(run),
                                        maxRequeues: maxRequeues, stop: stop)
                }
            }
            say(try driver.writeResults(resamples: resamples))
        }
    }

    func loadSpec() throws -> ExperimentSpec {
        switch (spec, preset) {
        case let (path?, nil):
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw ValidationError("cannot read \(path)") }
            do {
                return try YAMLDecoder().decode(ExperimentSpec.self, from: text)  // YAML is a superset of JSON
            } catch let error as DecodingError {
                throw JSONCoding.DecodeError(what: path, reason: JSONCoding.describe(error))
            }
        case let (nil, name?):
            guard let preset = ExperimentSpec.preset(name) else {
                throw ValidationError("unknown preset \(name); choose one of \(ExperimentSpec.presetNames.joined(separator: ", "))")
            }
            return preset
        default:
            throw ValidationError("give exactly one of --spec and --preset")
        }
    }

    /// The spec is stored with the results; the same name with another spec is refused.
    func refuseChangedSpec(_ experiment: ExperimentSpec, in dir: URL) throws {
        let file = dir.appendingPathComponent("experiment.json")
        if let data = FileManager.default.contents(atPath: file.path) {
            let stored = try JSONCoding.decode(ExperimentSpec.self, from: data, what: file.path)
            guard stored == experiment else {
                throw RunSpec.Invalid(setting: "experiment \(experiment.name)", reason: "exists in \(dir.path) with another spec "
                                      + "(it differs in \(stored.differences(from: experiment).joined(separator: ", "))); use another --out or name")
            }
        } else {
            try AtomicFile.write(try JSONCoding.encode(experiment), to: file)
        }
    }

    /// The smallest difference the experiment can detect at 80% power, for a
    /// baseline near 45% whose answers agree with the setting's on all but
    /// `discordant` of the questions.
    func detectable(_ e: ExperimentSpec) -> String {
        let shares = [0.05, 0.15]
        let mdes = shares.compactMap { try? Power.minimumDetectableDifference(questions: e.test.count, seeds: e.seeds.count, discordantShare: $0) }
        return "detectable difference at 80% power: " + zip(shares, mdes).map { String(format: "%.2f points if %.0f%% of answers differ", $1 * 100, $0 * 100) }
            .joined(separator: ", ") + " (seed noise adds to this)"
    }
}

/// One in-process run: `east selftrain --inprocess` as a child process with
/// one BLAS thread, its output in `log.txt`, its last line the phase. It
/// exits when this process dies (even by SIGKILL), so a rerun never races it.
final class ChildProcessLane: ExperimentLane {
    let process = Process()
    let log: URL
    let run: ExperimentSpec.Run

    init(east: URL, run: ExperimentSpec.Run, folder: URL) throws {
        self.run = run
        let specFile = folder.appendingPathComponent("spec.json")
        try AtomicFile.write(try JSONCoding.encode(run.spec), to: specFile)
        process.executableURL = east
        process.arguments = ["selftrain", "--inprocess", "--spec", specFile.path, "--run-id", run.id,
                             "--report", folder.deletingLastPathComponent().path, "--threads", "1", "--exit-with-parent", String(getpid())]
        log = folder.appendingPathComponent("log.txt")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        (process.standardOutput, process.standardError) = (handle, handle)
        try process.run()
    }

    var phase: String {
        guard let handle = try? FileHandle(forReadingFrom: log) else { return "starting" }
        defer { try? handle.close() }
        let size = (try? handle.seekToEnd()) ?? 0
        try? handle.seek(toOffset: size > 2048 ? size - 2048 : 0)
        let tail = String(decoding: handle.readDataToEndOfFile(), as: UTF8.self)
        return tail.split(separator: "\n").last.map(String.init) ?? "starting"
    }

    var outcome: Result<Void, Error>? {
        guard !process.isRunning else { return nil }
        guard process.terminationStatus == 0 else {
            return .failure(RunSpec.Invalid(setting: "run \(run.id)", reason: "failed (exit \(process.terminationStatus)); see \(log.path)"))
        }
        return .success(())
    }
}
