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
        case experiment, mode, total, done, inFlight = "in_flight", waiting, started, updated, etaSeconds = "eta_seconds"
    }

    public var isFinished: Bool { done == total }

    /// JSON with ISO 8601 times, for `progress.json` and Redis.
    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        return try encoder.encode(self)
    }

    public static func decode(_ data: Data, what: String) throws -> ExperimentProgress {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        do {
            return try decoder.decode(ExperimentProgress.self, from: data)
        } catch let error as DecodingError {
            throw JSONCoding.DecodeError(what: what, reason: JSONCoding.describe(error))
        }
    }

    /// One line, e.g. `a-sweep: 12/51 runs done, 2 in flight, 37 waiting; 410 s elapsed, about 1330 s to go`.
    public var summary: String {
        let elapsed = updated.timeIntervalSince(started)
        var line = "\(experiment) (\(mode)): \(done)/\(total) runs done, \(inFlight.count) in flight, \(waiting) waiting; "
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

/// Runs an experiment's missing runs, `parallel` at a time, through lanes
/// that `start` makes, reporting progress as it goes; then computes and
/// writes `results.json`, `results.csv` and `report.md` from the runs'
/// folders. The folder layout is the same in both modes: a run is done when
/// `DIR/runs/<run>/report.md` exists, so a rerun finishes only what is missing.
public struct ExperimentDriver {
    public let spec: ExperimentSpec
    public let folder: URL
    public let mode: String
    public var parallel = 1
    /// Called with every progress update (stderr, `progress.json`, Redis).
    public var report: (ExperimentProgress) -> Void = { _ in }

    public init(spec: ExperimentSpec, folder: URL, mode: String) {
        (self.spec, self.folder, self.mode) = (spec, folder, mode)
    }

    public func runFolder(_ run: ExperimentSpec.Run) -> URL { folder.appendingPathComponent("runs").appendingPathComponent(run.id) }

    public func isDone(_ run: ExperimentSpec.Run) -> Bool {
        FileManager.default.fileExists(atPath: runFolder(run).appendingPathComponent("report.md").path)
    }

    /// Runs what is not done; throws the first failure (naming the run) once
    /// the other runs in flight have finished.
    public func execute(start: (ExperimentSpec.Run) throws -> ExperimentLane) throws {
        let runs = spec.runs
        var queue = runs.filter { !isDone($0) }[...]
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
                experiment: spec.name, mode: mode, total: total, done: total - waitingAtStart + finished,
                inFlight: inFlight.map { .init(run: $0.run.id, phase: $0.lane.phase, started: $0.started) },
                waiting: queue.count, started: started, updated: now, etaSeconds: eta)
        }
        report(progress())
        while !queue.isEmpty || !inFlight.isEmpty {
            while failure == nil, inFlight.count < max(1, parallel), let run = queue.popFirst() {
                try FileManager.default.createDirectory(at: runFolder(run), withIntermediateDirectories: true)
                inFlight.append((run, try start(run), Date()))
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

    /// Computes the results from the runs' folders and writes
    /// `results.json`, `results.csv`, `report.md` and its figures.
    @discardableResult
    public func writeResults(resamples: Int) throws -> String {
        let runs = spec.runs
        let results = try ExperimentResults.compute(spec, evaluations: { id in
            let run = runs.first { $0.id == id }!
            return try Dictionary(uniqueKeysWithValues: (0...run.settings.iterations).map { v in
                (v, try RunReport.evaluation(in: runFolder(run), version: v))
            })
        }, resamples: resamples)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try encoder.encode(results), to: folder.appendingPathComponent("results.json"))
        try AtomicFile.write(Data(results.csv.utf8), to: folder.appendingPathComponent("results.csv"))
        return try writeReport(results)
    }

    /// Rewrites `report.md` and its figures from `results.json` alone (for
    /// results whose run folders are gone; Fig. 5 needs one of them).
    @discardableResult
    public func rewriteReport() throws -> String {
        let file = folder.appendingPathComponent("results.json")
        guard let data = FileManager.default.contents(atPath: file.path) else { throw RunSpec.Invalid(setting: file.path, reason: "cannot be read") }
        return try writeReport(try JSONCoding.decode(ExperimentResults.self, from: data, what: file.path))
    }

    func writeReport(_ results: ExperimentResults) throws -> String {
        let runs = spec.runs
        // Fig. 5 shows the first non-baseline setting's first seed (the baseline's weights are all 1).
        let shown = runs.first { $0.settings != spec.baseline(of: $0.settings) } ?? runs[0]
        let points = (try? RunReport.iterations(in: runFolder(shown)))?.first.map { (shown.id, $0.points) }
        return try ExperimentReport(spec: spec, results: results, points: points).write(to: folder)
    }
}
