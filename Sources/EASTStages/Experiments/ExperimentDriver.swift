import EASTCore
import Foundation

/// Where an experiment stands, for stderr, `DIR/progress.json` and (on the
/// cluster) `east status`.
public struct ExperimentProgress: Codable, Equatable, Sendable {
    public struct InFlight: Codable, Equatable, Sendable {
        public var run: String
        /// The run's latest progress line (its phase).
        public var phase: String
        public var started: Date
    }

    public var experiment: String
    /// `inprocess` or `cluster`.
    public var mode: String
    /// `selection` (the grid's runs on the validation questions) or `runs`.
    public var stage: String
    public var total: Int
    public var done: Int
    public var inFlight: [InFlight]
    public var waiting: Int
    /// When this invocation started (a rerun after a kill starts its own clock).
    public var started: Date
    public var updated: Date
    /// Seconds to go at this invocation's pace; nil until a run finished.
    public var etaSeconds: Double?

    enum CodingKeys: String, CodingKey {
        case experiment, mode, stage, total, done, inFlight = "in_flight", waiting, started, updated, etaSeconds = "eta_seconds"
    }

    public var isFinished: Bool { done == total }

    /// JSON (times in ISO 8601), for `progress.json` and Redis.
    public func encoded() throws -> Data { try JSONCoding.encode(self, pretty: true) }

    public static func decode(_ data: Data, what: String) throws -> ExperimentProgress {
        try JSONCoding.decode(ExperimentProgress.self, from: data, what: what)
    }

    /// One line, e.g. `a-sweep: 12/51 runs done, 2 in flight, 37 waiting; 410 s elapsed, about 1330 s to go`.
    public var summary: String {
        let elapsed = updated.timeIntervalSince(started)
        var line = "\(experiment) (\(mode), \(stage)): \(done)/\(total) runs done, \(inFlight.count) in flight, \(waiting) waiting; "
            + String(format: "%.0f s elapsed", elapsed)
        line += etaSeconds.map { String(format: ", about %.0f s to go", $0) } ?? (isFinished ? "" : ", no estimate until a run finishes")
        return line
    }

    /// The summary, then one line per run in flight with its phase.
    public var text: String {
        ([summary] + inFlight.map { "  \($0.run): \($0.phase)" }).joined(separator: "\n")
    }
}

/// One run of an experiment in flight, however it is executed (a child
/// process, or a coordinator on the cluster).
public protocol ExperimentLane: AnyObject {
    /// The run's latest progress line.
    var phase: String { get }
    /// nil while running; then success or the reason it failed.
    var outcome: Result<Void, Error>? { get }
}

/// Runs an experiment: first, when its spec has a selection, the grid's
/// runs (each loss's vanilla setting on the validation questions), whose
/// outcomes choose each loss's learning rate and beta (`selection.json`);
/// only then the experiment's runs, which are the first to read the test
/// set. `parallel` runs at a time through lanes that `start` makes, reporting
/// progress as it goes. Then `outcomes.json` (every run's per-question
/// outcomes, from the runs' folders), and from it alone `results.json`,
/// `results.csv` and `report.md`. The folder layout is the same in both
/// modes: a run is done when `DIR/runs/<run>/report.md` (or
/// `DIR/selection/<run>/report.md`) exists, so a rerun finishes only what
/// is missing.
public struct ExperimentDriver {
    public let spec: ExperimentSpec
    public let folder: URL
    public let mode: String
    public var parallel = 1
    /// Called with every progress update (stderr, `progress.json`, Redis).
    public var report: (ExperimentProgress) -> Void = { _ in }
    /// Called once selection has chosen (before any run reads the test set).
    public var chose: (SelectionResults) -> Void = { _ in }
    /// Other experiments' folders whose finished runs this one takes instead
    /// of running them again (presets share their selection grid, vanilla
    /// and EAST at a = 1 appear in several, and a pilot's vanilla run can be
    /// a selection run): a finished run, of either stage and any id, whose
    /// `run.json` holds exactly this run's resolved settings, test questions
    /// included, is copied with a `copied-from` note.
    public var reuseFrom: [URL] = []
    /// Called with a line for the log (runs copied from `reuseFrom`).
    public var note: (String) -> Void = { _ in }

    public init(spec: ExperimentSpec, folder: URL, mode: String) {
        (self.spec, self.folder, self.mode) = (spec, folder, mode)
    }

    public func runFolder(_ run: ExperimentSpec.Run) -> URL { folder.appendingPathComponent("runs").appendingPathComponent(run.id) }
    public func selectionFolder(_ run: ExperimentSpec.Run) -> URL { folder.appendingPathComponent("selection").appendingPathComponent(run.id) }

    static func isDone(_ folder: URL) -> Bool {
        FileManager.default.fileExists(atPath: folder.appendingPathComponent("report.md").path)
    }

    /// Selection (when the spec has one), then the runs at the chosen values,
    /// then the results; throws the first failure (naming the run).
    /// With `selectionOnly`, stops once selection has chosen (a pilot can
    /// then run at the chosen values without reading the test set).
    @discardableResult
    public func run(resamples: Int, selectionOnly: Bool = false, start: (ExperimentSpec.Run, URL) throws -> ExperimentLane) throws -> String {
        var choices: [ExperimentSpec.Choice] = []
        if !spec.selectionRuns.isEmpty {
            try execute(spec.selectionRuns, stage: "selection", folder: selectionFolder, start: start)
            let selection = try SelectionResults.compute(spec, outcomes: try collectOutcomes(choices: nil))!
            try AtomicFile.write(try JSONCoding.encode(selection, pretty: true), to: folder.appendingPathComponent("selection.json"))
            try AtomicFile.write(Data(selection.figure.svg().utf8), to: folder.appendingPathComponent("selection.svg"))
            chose(selection)
            choices = selection.choices
        }
        if selectionOnly {
            // The selection runs' outcomes, so that the choice can be recomputed (`verify`).
            try AtomicFile.write(try JSONCoding.encode(try collectOutcomes(choices: nil)), to: folder.appendingPathComponent("outcomes.json"))
            return "selection: \(folder.appendingPathComponent("selection.json").path)"
        }
        try execute(spec.runs(choices: choices), stage: "runs", folder: runFolder, start: start)
        return try writeResults(resamples: resamples)
    }

    /// Runs what is not done; throws the first failure (naming the run) once
    /// the other runs in flight have finished.
    func execute(_ runs: [ExperimentSpec.Run], stage: String, folder: (ExperimentSpec.Run) -> URL,
                 start: (ExperimentSpec.Run, URL) throws -> ExperimentLane) throws {
        var copied = 0
        for run in runs where !Self.isDone(folder(run)) {
            if try adopt(run, stage: stage, into: folder(run)) { copied += 1 }
        }
        if copied > 0 { note("\(stage): \(copied) finished run(s) copied from \(reuseFrom.map(\.path).joined(separator: ", "))") }
        var queue = runs.filter { !Self.isDone(folder($0)) }[...]
        let total = runs.count, waitingAtStart = queue.count
        let started = Date()
        var inFlight: [(run: ExperimentSpec.Run, lane: ExperimentLane, started: Date)] = []
        var finished = 0
        var failure: Error?
        var lastReport = Date.distantPast
        func progress() -> ExperimentProgress {
            let now = Date()
            let eta = finished == 0 ? nil : now.timeIntervalSince(started) / Double(finished) * Double(waitingAtStart - finished)
            return ExperimentProgress(
                experiment: spec.name, mode: mode, stage: stage, total: total, done: total - waitingAtStart + finished,
                inFlight: inFlight.map { .init(run: $0.run.id, phase: $0.lane.phase, started: $0.started) },
                waiting: queue.count, started: started, updated: now, etaSeconds: eta)
        }
        report(progress())
        while !queue.isEmpty || !inFlight.isEmpty {
            while failure == nil, inFlight.count < max(1, parallel), let run = queue.popFirst() {
                try FileManager.default.createDirectory(at: folder(run), withIntermediateDirectories: true)
                inFlight.append((run, try start(run, folder(run)), Date()))
            }
            Thread.sleep(forTimeInterval: 0.2)
            var changed = false
            for entry in inFlight {
                guard let outcome = entry.lane.outcome else { continue }
                changed = true
                switch outcome {
                case .success: finished += 1
                case let .failure(error): failure = failure ?? error
                }
            }
            inFlight.removeAll { $0.lane.outcome != nil }
            if failure != nil { queue.removeAll() }
            if changed || Date().timeIntervalSince(lastReport) >= 10 {
                lastReport = Date()
                report(progress())
            }
        }
        if let failure { throw failure }
    }

    /// Copies a finished run with exactly `run`'s settings from the first
    /// `reuseFrom` folder that has one (staged, then renamed into place).
    func adopt(_ run: ExperimentSpec.Run, stage: String, into target: URL) throws -> Bool {
        let files = FileManager.default
        // The run of the same id and stage first, then any other.
        let candidates = reuseFrom.flatMap { other in
            [other.appendingPathComponent(stage).appendingPathComponent(run.id)]
                + ["selection", "runs"].flatMap { stage in
                    let folder = other.appendingPathComponent(stage)
                    return ((try? files.contentsOfDirectory(atPath: folder.path)) ?? []).sorted().map { folder.appendingPathComponent($0) }
                }
        }
        for source in candidates {
            guard Self.isDone(source), let data = files.contents(atPath: source.appendingPathComponent("run.json").path),
                  let record = try? JSONCoding.decode(RunRecord.self, from: data, what: source.path),
                  record.settings == run.spec else { continue }
            let staging = target.deletingLastPathComponent().appendingPathComponent(".\(run.id).copying")
            try? files.removeItem(at: staging)
            try files.copyItem(at: source, to: staging)
            try AtomicFile.write(Data((source.standardizedFileURL.path + "\n").utf8), to: staging.appendingPathComponent("copied-from"))
            try? files.removeItem(at: target)
            try files.moveItem(at: staging, to: target)
            return true
        }
        return false
    }

    /// Every finished run's per-question outcomes, from its folder: the
    /// selection runs', and (given the choices) the experiment's runs'. A
    /// folder whose run ran with other settings, or on other questions, is refused.
    func collectOutcomes(choices: [ExperimentSpec.Choice]?) throws -> ExperimentOutcomes {
        func outcomes(_ run: ExperimentSpec.Run, in folder: URL, questions: [String]) throws -> [String: String] {
            let recordFile = folder.appendingPathComponent("run.json")
            guard let data = FileManager.default.contents(atPath: recordFile.path) else {
                throw RunSpec.Invalid(setting: recordFile.path, reason: "cannot be read")
            }
            let record = try JSONCoding.decode(RunRecord.self, from: data, what: recordFile.path)
            guard record.settings == run.spec else {
                throw RunSpec.Invalid(setting: "run \(run.id)", reason: "in \(folder.path) ran with other settings: "
                                      + run.spec.differences(from: record.settings).joined(separator: ", "))
            }
            var out: [String: String] = [:]
            for version in 0...run.settings.iterations {
                let results = try RunReport.evaluation(in: folder, version: version)
                guard results.map(\.id) == questions else {
                    throw RunSpec.Invalid(setting: "run \(run.id)", reason: "v\(version) in \(folder.path) was evaluated on other questions than the experiment's")
                }
                out[String(version)] = ExperimentOutcomes.encode(results)
            }
            return out
        }
        let validation = try spec.selection.map { try $0.validation.source(.validation).load().map(\.id) } ?? []
        var selectionRuns: [String: [String: String]] = [:]
        for run in spec.selectionRuns { selectionRuns[run.id] = try outcomes(run, in: selectionFolder(run), questions: validation) }
        guard let choices else {
            return ExperimentOutcomes(testQuestions: [], validationQuestions: validation, runs: [:], selectionRuns: selectionRuns)
        }
        let test = try spec.test.source(.test).load().map(\.id)
        var runs: [String: [String: String]] = [:]
        var diagnostics: [String: [IterationDiagnostics]] = [:]
        for run in spec.runs(choices: choices) {
            runs[run.id] = try outcomes(run, in: runFolder(run), questions: test)
            diagnostics[run.id] = try RunReport.iterations(in: runFolder(run)).map(IterationDiagnostics.init)
        }
        return ExperimentOutcomes(testQuestions: test, validationQuestions: validation, runs: runs, selectionRuns: selectionRuns,
                                  diagnostics: diagnostics)
    }

    /// Writes `outcomes.json` from the runs' folders, then computes the
    /// results from it alone and writes `results.json`, `results.csv`,
    /// `report.md` and its figures.
    @discardableResult
    public func writeResults(resamples: Int) throws -> String {
        let selection = try SelectionResults.compute(spec, outcomes: try collectOutcomes(choices: nil))
        let outcomes = try collectOutcomes(choices: selection?.choices ?? [])
        try AtomicFile.write(try JSONCoding.encode(outcomes), to: folder.appendingPathComponent("outcomes.json"))
        let results = try ExperimentResults.compute(spec, outcomes: outcomes, resamples: resamples)
        try AtomicFile.write(try JSONCoding.encode(results, pretty: true), to: folder.appendingPathComponent("results.json"))
        try AtomicFile.write(Data(results.csv.utf8), to: folder.appendingPathComponent("results.csv"))
        return try writeReport(results)
    }

    /// Rewrites `report.md` and its figures from `results.json` alone (for
    /// results whose run folders are gone; Fig. 5 needs one of them).
    @discardableResult
    public func rewriteReport() throws -> String {
        try writeReport(try Self.read(ExperimentResults.self, "results.json", in: folder))
    }

    func writeReport(_ results: ExperimentResults) throws -> String {
        let runs = spec.runs(choices: results.selection?.choices ?? [])
        // Fig. 5 shows the first non-baseline setting's first seed (the baseline's weights are all 1).
        let shown = runs.first { $0.settings != spec.baseline(of: $0.settings) } ?? runs[0]
        let points = (try? RunReport.iterations(in: runFolder(shown)))?.first.map { (shown.id, $0.points) }
        return try ExperimentReport(spec: spec, results: results, points: points).write(to: folder)
    }

    static func read<T: Decodable>(_ type: T.Type, _ name: String, in folder: URL) throws -> T {
        let file = folder.appendingPathComponent(name)
        guard let data = FileManager.default.contents(atPath: file.path) else { throw RunSpec.Invalid(setting: file.path, reason: "cannot be read") }
        return try JSONCoding.decode(type, from: data, what: file.path)
    }

    /// Recomputes every figure of an experiment folder from its spec
    /// (`experiment.json`) and its outcomes (`outcomes.json`), and compares
    /// them with `results.json` (and `selection.json`, when there is one).
    /// The fields that differ, as `path (stored, recomputed)`; none when the
    /// results are what the outcomes give.
    public static func verify(folder: URL) throws -> [String] {
        let spec = try read(ExperimentSpec.self, "experiment.json", in: folder)
        let outcomes = try read(ExperimentOutcomes.self, "outcomes.json", in: folder)
        guard FileManager.default.fileExists(atPath: folder.appendingPathComponent("results.json").path) else {
            // A folder that stopped after selection (`--selection-only`): its choices.
            let selection = try read(SelectionResults.self, "selection.json", in: folder)
            return JSONCoding.differences(try JSONCoding.encode(selection), try JSONCoding.encode(try SelectionResults.compute(spec, outcomes: outcomes)))
                .map { "selection.json: " + $0 }
        }
        let stored = try read(ExperimentResults.self, "results.json", in: folder)
        let recomputed = try ExperimentResults.compute(spec, outcomes: outcomes, resamples: stored.resamples)
        var differences = JSONCoding.differences(try JSONCoding.encode(stored), try JSONCoding.encode(recomputed))
        if FileManager.default.fileExists(atPath: folder.appendingPathComponent("selection.json").path) {
            let selection = try read(SelectionResults.self, "selection.json", in: folder)
            differences += JSONCoding.differences(try JSONCoding.encode(selection), try JSONCoding.encode(recomputed.selection))
                .map { "selection.json: " + $0 }
        }
        return differences
    }
}
