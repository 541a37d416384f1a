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
        discussion: "Presets: \(ExperimentSpec.presetNames.joined(separator: ", ")) (the EAST paper's protocol on the embedded default). "
            + "Examples: east experiment --preset table1 --parallel 2 (on a running cluster: east cluster up), "
            + "east experiment --preset table1 --inprocess --parallel 2, east experiment --verify experiments/table1")

    @Option(help: "Experiment spec, YAML or JSON.") var spec: String?
    @Option(help: "A built-in spec: \(ExperimentSpec.presetNames.joined(separator: ", ")).") var preset: String?
    @Flag(help: "Run every run in child processes on this machine instead of on the cluster.") var inprocess = false
    @Option(help: "Runs at once.") var parallel = 1
    @Option(help: "Output folder (default: experiments/<name>).") var out: String?
    @Option(help: "Bootstrap resamples.") var resamples = 2000
    @Option(help: "Cluster: fail a run after this many of its messages were requeued after errors.") var maxRequeues = 10
    @Option(help: "In-process runs: the folder where samples and greedy answers are kept by content address and reused (shared by experiments that sample the same policies).")
    var sampleCache = ".east-cache/samples"
    @Flag(help: "Only rewrite DIR/report.md and its figures from DIR/results.json.") var reportOnly = false
    @Flag(help: "Stop once selection has chosen each loss's learning rate and beta (DIR/selection.json), before any run reads the test set.")
    var selectionOnly = false
    @Option(help: ArgumentHelp("Another experiment's folder whose finished runs (selection runs too) with exactly the same resolved settings and test questions are copied instead of run again; repeatable.", valueName: "dir"))
    var runsFrom: [String] = []
    @Option(help: "Recompute every figure of an experiment folder from its outcomes.json and say whether results.json matches.")
    var verify: String?
    @OptionGroup var cluster: WorkerOptions

    func validate() throws {
        guard parallel >= 1, parallel <= 64 else { throw ValidationError("--parallel must be from 1 to 64, got \(parallel)") }
        guard resamples >= 100, resamples <= 1_000_000 else { throw ValidationError("--resamples must be from 100 to 1000000, got \(resamples)") }
    }

    func run() throws {
        try failing {
            if let verify {
                let differences = try ExperimentDriver.verify(folder: URL(fileURLWithPath: verify))
                let selectionOnly = !FileManager.default.fileExists(atPath: verify + "/results.json")
                let checked = selectionOnly ? "selection.json" : "results.json"
                guard differences.isEmpty else {
                    throw RunSpec.Invalid(setting: "\(verify)/\(checked)", reason: "does not match what its outcomes give; it differs in:\n  "
                                          + differences.prefix(50).joined(separator: "\n  "))
                }
                say(selectionOnly ? "verified: every validation accuracy and choice in \(verify)/selection.json is what \(verify)/outcomes.json gives"
                                  : "verified: every accuracy, difference, interval and p-value in \(verify)/results.json is what \(verify)/outcomes.json gives")
                return
            }
            let experiment = try loadSpec()
            try experiment.validate()
            let dir = URL(fileURLWithPath: out ?? "experiments/\(experiment.name)")
            if reportOnly {
                try refuseChangedSpec(experiment, in: dir, record: false)
                say(try ExperimentDriver(spec: experiment, folder: dir, mode: "report").rewriteReport())
                return
            }
            try experiment.checkHeldOut()
            try FileManager.default.createDirectory(at: dir.appendingPathComponent("runs"), withIntermediateDirectories: true)
            try refuseChangedSpec(experiment, in: dir)
            let settings = experiment.settings.count, seeds = experiment.seeds.count
            printError("experiment \(experiment.name): \(settings) settings x \(seeds) seeds = \(settings * seeds) runs"
                       + (experiment.selection.map { _ in " after \(experiment.selectionRuns.count) selection runs" } ?? "")
                       + ", \(experiment.test.count) test questions")
            printError(detectable(experiment))
            var driver = ExperimentDriver(spec: experiment, folder: dir, mode: inprocess ? "inprocess" : "cluster")
            driver.parallel = parallel
            driver.reuseFrom = runsFrom.map { URL(fileURLWithPath: $0) }
            driver.note = { printError($0) }
            driver.chose = { selection in
                printError("selection chose: " + selection.choices.map { "\($0.loss.rawValue) learning rate \($0.learningRate), beta \($0.beta)" }
                    .joined(separator: "; ") + " (see \(dir.path)/selection.json)")
            }
            let progressFile = dir.appendingPathComponent("progress.json")
            if inprocess {
                driver.report = { p in
                    printError(p.summary)
                    try? AtomicFile.write(try p.encoded(), to: progressFile)
                }
                let east = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
                let cache = cluster.noSampleReuse ? nil : URL(fileURLWithPath: sampleCache)
                say(try driver.run(resamples: resamples, selectionOnly: selectionOnly) { run, folder in
                    try ChildProcessLane(east: east, run: run, folder: folder, sampleCache: cache)
                })
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
                say(try driver.run(resamples: resamples, selectionOnly: selectionOnly) { run, folder in
                    try CoordinatorLane(run: state.runID(run), spec: run.spec, environment: env, folder: folder,
                                        maxRequeues: maxRequeues, stop: stop)
                })
            }
        }
    }

    func loadSpec() throws -> ExperimentSpec {
        switch (spec, preset) {
        case let (path?, nil):
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw ValidationError("cannot read \(path)") }
            try ExperimentSpec.checkText(text, what: path)
            do {
                return try YAMLDecoder().decode(ExperimentSpec.self, from: text)  // YAML is a superset of JSON
            } catch let error as DecodingError {
                // The parser's own message names the line and column.
                if case let .dataCorrupted(context) = error, context.codingPath.isEmpty, let parser = context.underlyingError {
                    throw JSONCoding.DecodeError(what: path, reason: "not YAML or JSON: \(parser)")
                }
                throw JSONCoding.DecodeError(what: path, reason: JSONCoding.describe(error))
            } catch {
                throw JSONCoding.DecodeError(what: path, reason: "not YAML or JSON (\(error))")
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

    /// The resolved spec is stored with the results (with `record`; a report
    /// rewrite only reads); the same name with another resolved spec (a
    /// changed default included) is refused.
    func refuseChangedSpec(_ experiment: ExperimentSpec, in dir: URL, record: Bool = true) throws {
        let file = dir.appendingPathComponent("experiment.json")
        if let data = FileManager.default.contents(atPath: file.path) {
            let stored = try JSONCoding.decode(ExperimentSpec.self, from: data, what: file.path)
            guard stored == experiment else {
                throw RunSpec.Invalid(setting: "experiment \(experiment.name)", reason: "exists in \(dir.path) with other resolved settings "
                                      + "(it differs in \(stored.differences(from: experiment).joined(separator: ", "))); use another --out or name")
            }
        } else if record {
            try AtomicFile.write(try JSONCoding.encode(experiment, pretty: true), to: file)
        }
    }

    /// The smallest difference the experiment's comparisons can detect at 80%
    /// power, for settings whose answers differ on 5% or 15% of the
    /// questions, with no seed-to-seed spread beyond that and with a seed
    /// standard deviation of 0.5 and 1.5 points.
    func detectable(_ e: ExperimentSpec) -> String {
        var lines = ["detectable difference at 80% power (5% two-sided), by the interval that governs:"]
        for share in [0.05, 0.15] {
            let cells = [0.0, 0.5, 1.5].compactMap { sd -> String? in
                guard let mde = try? Power.governingMinimumDetectableDifference(
                    questions: e.test.count, seeds: e.seeds.count, discordantShare: share, seedVariance: (sd / 100) * (sd / 100)) else { return nil }
                return String(format: "seed sd %.1f points: %.2f", sd, mde * 100)
            }
            lines.append(String(format: "  %.0f%% of answers differ: ", share * 100) + cells.joined(separator: ", ") + " points")
        }
        return lines.joined(separator: "\n")
    }
}

/// One in-process run: `east selftrain --inprocess` as a child process with
/// one BLAS thread, its output in `log.txt`, its last line the phase. It
/// exits when this process dies (even by SIGKILL), so a rerun never races it.
final class ChildProcessLane: ExperimentLane {
    let process = Process()
    let log: URL
    let run: ExperimentSpec.Run

    init(east: URL, run: ExperimentSpec.Run, folder: URL, sampleCache: URL?) throws {
        self.run = run
        let specFile = folder.appendingPathComponent("spec.json")
        try AtomicFile.write(try JSONCoding.encode(run.spec, pretty: true), to: specFile)
        process.executableURL = east
        process.arguments = ["selftrain", "--inprocess", "--spec", specFile.path, "--run-id", run.id,
                             "--report", folder.deletingLastPathComponent().path, "--threads", "1", "--exit-with-parent", String(getpid())]
            + (sampleCache.map { ["--sample-cache", $0.path] } ?? [])
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
