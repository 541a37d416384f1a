import ArgumentParser
import EASTCommandLine
import EASTCore
import EASTStages
import Foundation
import Yams

/// `east experiment`: the paper's tables and figures as one command. Every
/// run of the spec is an `east selftrain --inprocess` child process (up to
/// `--parallel` at once, one BLAS thread each) writing its report and
/// per-question results under `DIR/runs/<run>/`; a run whose `report.md`
/// exists is done, so rerunning the same command after a kill finishes only
/// what is missing. Then `results.json`, `results.csv` and `report.md`.
struct ExperimentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "experiment",
        abstract: "Run an experiment (settings x seeds on one test set) and compare every setting with its baseline.",
        discussion: "Presets: \(ExperimentSpec.presetNames.joined(separator: ", ")). Example: east experiment --preset table1 --inprocess --parallel 2")

    @Option(help: "Experiment spec, YAML or JSON.") var spec: String?
    @Option(help: "A built-in spec: \(ExperimentSpec.presetNames.joined(separator: ", ")).") var preset: String?
    @Flag(help: "Run every run in processes on this machine (required: the cluster mode is not built yet).") var inprocess = false
    @Option(help: "Runs at once.") var parallel = 1
    @Option(help: "Output folder (default: experiments/<name>).") var out: String?
    @Option(help: "Bootstrap resamples.") var resamples = 2000

    func run() throws {
        try failing {
            guard inprocess else { throw ValidationError("the cluster mode of east experiment is not built yet; use --inprocess") }
            let experiment = try loadSpec()
            try experiment.validate()
            let dir = URL(fileURLWithPath: out ?? "experiments/\(experiment.name)")
            try FileManager.default.createDirectory(at: dir.appendingPathComponent("runs"), withIntermediateDirectories: true)
            try refuseChangedSpec(experiment, in: dir)
            let runs = experiment.runs
            printError("experiment \(experiment.name): \(experiment.settings.count) settings x \(experiment.seeds.count) seeds = \(runs.count) runs, "
                       + "\(experiment.test.count) test questions; " + detectable(experiment))
            try execute(runs, in: dir)
            let results = try ExperimentResults.compute(experiment, evaluations: { id in
                try Dictionary(uniqueKeysWithValues: (0...experiment.runs.first { $0.id == id }!.settings.iterations).map { v in
                    (v, try RunReport.evaluation(in: dir.appendingPathComponent("runs/\(id)"), version: v))
                })
            }, resamples: resamples)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try AtomicFile.write(try encoder.encode(results), to: dir.appendingPathComponent("results.json"))
            try AtomicFile.write(Data(results.csv.utf8), to: dir.appendingPathComponent("results.csv"))
            let markdown = results.markdown(experiment)
            try AtomicFile.write(Data(markdown.utf8), to: dir.appendingPathComponent("report.md"))
            say(markdown)
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
                // The top-level keys whose JSON differs.
                func keys(_ spec: ExperimentSpec) throws -> [String: Data] {
                    let object = try JSONSerialization.jsonObject(with: JSONCoding.encode(spec)) as? [String: Any] ?? [:]
                    return try object.mapValues { try JSONSerialization.data(withJSONObject: $0, options: [.sortedKeys, .fragmentsAllowed]) }
                }
                let (old, new) = (try keys(stored), try keys(experiment))
                let fields = Set(old.keys).union(new.keys).sorted().filter { old[$0] != new[$0] }
                throw RunSpec.Invalid(setting: "experiment \(experiment.name)",
                                      reason: "exists in \(dir.path) with another spec (it differs in \(fields.joined(separator: ", "))); use another --out or name")
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

    /// Runs what is not done yet, `parallel` at a time, with progress on stderr.
    func execute(_ runs: [ExperimentSpec.Run], in dir: URL) throws {
        let folder = { (run: ExperimentSpec.Run) in dir.appendingPathComponent("runs/\(run.id)") }
        let waiting = runs.filter { !FileManager.default.fileExists(atPath: folder($0).appendingPathComponent("report.md").path) }
        let done = runs.count - waiting.count
        let east = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        let start = Date()
        var queue = waiting[...]
        var inFlight: [(ExperimentSpec.Run, Process)] = []
        var finished = 0
        while !queue.isEmpty || !inFlight.isEmpty {
            while inFlight.count < max(1, parallel), let run = queue.popFirst() {
                try FileManager.default.createDirectory(at: folder(run), withIntermediateDirectories: true)
                let specFile = folder(run).appendingPathComponent("spec.json")
                try AtomicFile.write(try JSONCoding.encode(run.spec), to: specFile)
                let process = Process()
                process.executableURL = east
                process.arguments = ["selftrain", "--inprocess", "--spec", specFile.path, "--run-id", run.id,
                                     "--report", dir.appendingPathComponent("runs").path, "--threads", "1"]
                let log = folder(run).appendingPathComponent("log.txt")
                _ = FileManager.default.createFile(atPath: log.path, contents: nil)
                let handle = try FileHandle(forWritingTo: log)
                (process.standardOutput, process.standardError) = (handle, handle)
                try process.run()
                inFlight.append((run, process))
            }
            Thread.sleep(forTimeInterval: 0.5)
            for (run, process) in inFlight where !process.isRunning {
                guard process.terminationStatus == 0 else {
                    throw RunSpec.Invalid(setting: "run \(run.id)", reason: "failed (exit \(process.terminationStatus)); see \(folder(run).path)/log.txt")
                }
                finished += 1
                let elapsed = Date().timeIntervalSince(start)
                let eta = elapsed / Double(finished) * Double(waiting.count - finished)
                printError(String(format: "runs done %d/%d (%d in flight, %d waiting); %.0f s elapsed, about %.0f s to go; finished %@",
                                  done + finished, runs.count, inFlight.count - 1, queue.count, elapsed, eta, run.id))
            }
            inFlight.removeAll { !$0.1.isRunning }
        }
    }
}
