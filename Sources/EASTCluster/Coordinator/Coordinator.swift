import EASTCore
import EASTEngine
import EASTStages
import EASTTransport
import Foundation

/// Drives a run: publishes sampling jobs, waits until Redis holds every
/// question's record, weighs them with the stage function the in-process run
/// uses (the weights need all N entropies), publishes the weighted batches,
/// waits for the trainer's new policy and the evaluator's accuracy, and
/// starts the next iteration.
///
/// The run's spec and phase live in Redis: a coordinator restarted with the
/// same run id resumes where the run was, from the stored spec. Publishing
/// is repeatable (samplers, clusterer and trainer are idempotent), so a
/// crash between "published" and "recorded" only repeats work.
public final class Coordinator {
    let env: WorkerEnvironment
    public let spec: RunSpec
    public let run: String
    /// Requeued failures of the run's messages past which the run fails.
    public var maxRequeues = 10
    /// Sampling jobs of this run published but not yet recorded, at most.
    public var maxQueuedJobs = 256
    /// Questions per sampling job. Results do not depend on it (each
    /// question's seed is its own); only the number of messages does. 8
    /// fills a sampler's 64 rows at n = 8 with one job, and cuts the broker's,
    /// Redis's and the clusterer's per-message work eightfold, which on two
    /// cores is taken from the samplers (README "Cluster benchmark").
    public var questionsPerJob = 8
    let progress: @Sendable (String) -> Void

    public init(environment: WorkerEnvironment, spec: RunSpec, run: String, progress: @escaping @Sendable (String) -> Void) {
        env = environment
        self.spec = spec
        self.run = run
        self.progress = progress
    }

    /// The run cannot finish: workers refused or kept failing its messages.
    public struct RunFailed: Error, CustomStringConvertible {
        public let run: String
        public let reason: String
        public var description: String { "run \(run) failed: \(reason)" }
    }

    /// SIGTERM or SIGINT arrived; the run's state in Redis is intact.
    public struct Interrupted: Error, CustomStringConvertible {
        public let run: String
        public let doing: String
        public var description: String { "interrupted run \(run) while \(doing); rerun with --run-id \(run) (and no other settings) to resume" }
    }

    public func run(stop: StopFlag) throws -> RunOutcome {
        try spec.validate()
        let redis = try env.connectRedis()
        let state = RunState(redis: redis, run: run)
        if let stored = try state.spec(), stored != spec {
            throw RunSpec.Invalid(setting: "run \(run)", reason: "was started with other settings: \(stored.differences(from: spec).joined(separator: ", "))")
        }
        let train = try spec.train.load()
        guard !train.isEmpty else { throw RunSpec.Invalid(setting: "train questions", reason: "must not be empty") }
        let client = try env.connectBroker(prefetch: 1)
        defer { client.close() }

        var snapshot = try state.snapshot()
        if snapshot.phase == nil {
            let test = try spec.test.load()
            guard !test.isEmpty else { throw RunSpec.Invalid(setting: "test questions", reason: "must not be empty") }
            try startRun(state: state, client: client, questions: train.count, test: test)
            snapshot = try state.snapshot()
        } else if snapshot.phase == .failed {
            throw RunFailed(run: run, reason: snapshot.note ?? "failed earlier")
        } else {
            progress("resuming run \(run): iteration \(snapshot.iteration), phase \(snapshot.phase!.rawValue)")
        }
        var iteration = max(1, snapshot.iteration)
        while iteration <= spec.iterations, snapshot.phase != .done, snapshot.phase != .evaluating {
            try runIteration(iteration, train: train, state: state, client: client, stop: stop)
            iteration += 1
            snapshot = try state.snapshot()
        }
        try waitForAccuracy(version: spec.iterations, state: state, stop: stop)
        try state.setPhase(.done, iteration: spec.iterations, version: spec.iterations)
        env.openPolicyStore().finishRun(run)  // retention: the run's resume point and old versions go
        return RunOutcome(run: run, spec: spec, iterations: try state.reports(), evaluations: try state.evaluations(), prompt: try state.prompt())
    }

    private func startRun(state: RunState, client: AMQPClient, questions: Int, test: [Question]) throws {
        progress("starting run \(run): \(questions) train questions, \(test.count) test questions, \(spec.iterations) iteration(s)")
        let start = try Policy.load(from: URL(fileURLWithPath: spec.checkpoint), lora: spec.lora, seed: spec.seed)
        start.adopt(spec)
        for (name, list) in [("train", try spec.train.load()), ("test", test)] {
            let overlong = start.overlong(list).count
            if overlong > 0 {
                progress("\(overlong) \(name) question(s) have prompts longer than the window (\(start.window) tokens): "
                         + "they are answered empty (wrong, never trained on)")
            }
        }
        try state.start(spec: spec, questions: questions, test: test, prompt: start.format.description)
        let manifest = try env.openPolicyStore().publish(start, run: run, version: 0)
        try state.setPhase(.sampling, iteration: 1, version: 0)
        // The evaluator measures the starting policy like any other version.
        try client.publish(exchange: Topology.eventsExchange, routingKey: "checkpoint.ready",
                           body: CheckpointReady(version: 0, manifest: manifest).envelope(run: run))
    }

    private func runIteration(_ iteration: Int, train: [Question], state: RunState, client: AMQPClient, stop: StopFlag) throws {
        let version = iteration - 1
        var snapshot = try state.snapshot()

        // 1. Sampling: publish the jobs of questions without a record yet, at
        //    most `maxQueuedJobs` ahead of the records (backpressure: the runs
        //    of an experiment interleave in the queue instead of one flooding it).
        if snapshot.phase == .sampling || snapshot.iteration < iteration {
            try state.setPhase(.sampling, iteration: iteration, version: version)
            let done = try state.records(iteration: iteration)
            var jobs = train.filter { done[$0.id] == nil }[...]
            let recordedAtStart = done.count
            var published = 0
            let perJob = max(1, questionsPerJob)
            func topUp(recorded: Int) throws {
                // Counted in questions: a job is "ahead" until all its questions are recorded.
                // Whole jobs only, but for the last one.
                let ahead = published - (recorded - recordedAtStart)
                let room = max(0, maxQueuedJobs * perJob - ahead)
                let batch = jobs.prefix(jobs.count <= room ? room : room / perJob * perJob)
                guard !batch.isEmpty else { return }
                try client.publish(stride(from: batch.startIndex, to: batch.endIndex, by: perJob).map { i in
                    (exchange: Topology.jobsExchange, routingKey: "sample",
                     body: SampleJob(iteration: iteration, version: version,
                                     questions: Array(batch[i ..< min(i + perJob, batch.endIndex)])).envelope(run: run))
                })
                jobs = jobs.dropFirst(batch.count)
                published += batch.count
            }
            let samplingStart = Date()
            try topUp(recorded: recordedAtStart)
            progress("iteration \(iteration): sampling \(train.count - recordedAtStart) questions (policy v\(version), n = \(spec.sampling.n)), "
                     + "at most \(maxQueuedJobs) jobs of \(perJob) question(s) queued at a time")
            try waitUntil(state: state, stop: stop, doing: { "sampling iteration \(iteration) (\((try? state.recordCount(iteration: iteration)) ?? 0)/\(train.count) questions recorded)" }) { report in
                let count = try state.recordCount(iteration: iteration)
                try topUp(recorded: count)
                if report {
                    var depth = 0
                    try? client.perform { depth = try $0.inspectQueue(Topology.sampleQueue).messages }
                    progress("iteration \(iteration) sampling: \(count)/\(train.count) questions recorded, \(depth) jobs waiting")
                }
                return count >= train.count
            }
            if recordedAtStart == 0 {
                try state.recordTiming(iteration: iteration, phase: "sampling", seconds: Date().timeIntervalSince(samplingStart))
            }
        }

        // 2. Weights over all N kept questions (the same stage function as in one process).
        let records = try state.records(iteration: iteration)
        let rows = try train.map { q -> (question: Question, record: QuestionRecord) in
            guard let record = records[q.id] else { throw RunFailed(run: run, reason: "question \(q.id) has no record in iteration \(iteration)") }
            return (q, record)
        }
        var (items, report): ([TrainingItem], IterationReport)
        do {
            (items, report) = try WeighingStage.weigh(rows, spec: spec, iteration: iteration)
        } catch {
            try state.setPhase(.failed, iteration: iteration, version: version, note: "\(error)")
            throw error
        }
        progress(String(format: "iteration %d weights: kept %d of %d (dropped all-right %d, all-wrong %d); weights min/q1/median/q3/max %@",
                        iteration, report.kept, report.questions, report.droppedAllRight, report.droppedAllWrong,
                        report.weightQuantiles.map { String(format: "%.3f", $0) }.joined(separator: " / ")))

        // 3. Training: publish the batches once, then wait for the trainer's new policy version.
        let batches = TrainingSession.batches(items, size: spec.batchSize, epochs: spec.epochs, seed: spec.seed &+ UInt64(iteration))
        snapshot = try state.snapshot()
        if snapshot.phase == .sampling {
            let messages = batches.enumerated().map { index, batch in
                (exchange: Topology.jobsExchange, routingKey: "train",
                 body: TrainBatch(iteration: iteration, version: version, index: index, count: batches.count, items: batch).envelope(run: run))
            }
            try client.publish(messages)
            try state.setPhase(.training, iteration: iteration, version: version)
            progress("iteration \(iteration): published \(messages.count) training batches (\(items.count) \(spec.loss.rawValue) examples)")
        }
        func trained() -> String {
            guard let trainer = try? state.trainer(), trainer.iteration == iteration else { return "batch - of \(batches.count)" }
            return "batch \(trainer.batch) of \(batches.count) loss " + String(format: "%.6f", trainer.loss)
        }
        try waitUntil(state: state, stop: stop, doing: { "training iteration \(iteration) (\(trained()))" }) { report in
            if report { progress("iteration \(iteration) training: \(trained())") }
            return try state.checkpoint(version: version + 1) != nil
        }
        report.training = try state.trainingSteps().filter { $0.iteration == iteration }.map(\.step)
        guard report.training.count == batches.count else {
            throw RunFailed(run: run, reason: "iteration \(iteration) has \(report.training.count) recorded training steps, expected \(batches.count)")
        }
        try state.storeReport(report)

        // 4. From now on samplers serve the new policy (older jobs are stale);
        //    the evaluator measures it in the background.
        if iteration < spec.iterations {
            try state.setPhase(.sampling, iteration: iteration + 1, version: version + 1)
        } else {
            try state.setPhase(.evaluating, iteration: iteration, version: version + 1)
        }
    }

    private func waitForAccuracy(version: Int, state: RunState, stop: StopFlag) throws {
        try waitUntil(state: state, stop: stop, doing: { "waiting for the evaluation of policy v0-v\(version)" }) { report in
            let accuracy = try state.accuracies()
            if report { progress("evaluation: \((0...version).filter { accuracy[$0] != nil }.count)/\(version + 1) policy versions measured") }
            return (0...version).allSatisfy { accuracy[$0] != nil }
        }
    }

    /// Polls `done` every 0.25 s until it holds (asking it for a progress
    /// line every 2 s); stops on SIGTERM (naming what it interrupted) and
    /// fails the run when its messages keep failing.
    private func waitUntil(state: RunState, stop: StopFlag, doing: () -> String, _ done: (_ report: Bool) throws -> Bool) throws {
        var lastReport = Date.distantPast
        while true {
            if stop.isRequested { throw Interrupted(run: run, doing: doing()) }
            let report = Date().timeIntervalSince(lastReport) >= 2
            if report { lastReport = Date() }
            if try done(report) { return }
            let failures = try state.failures()
            if failures.deadLettered > 0 || failures.requeued >= maxRequeues {
                let reason = "\(failures.deadLettered) message(s) dead-lettered and \(failures.requeued) requeued after errors; "
                    + "last: \(failures.last ?? "-")"
                let snapshot = try state.snapshot()
                try state.setPhase(.failed, iteration: snapshot.iteration, version: snapshot.version, note: reason)
                throw RunFailed(run: run, reason: reason)
            }
            Thread.sleep(forTimeInterval: 0.25)
        }
    }
}
