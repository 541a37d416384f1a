import EASTCore
import EASTEngine
import EASTStages
import EASTTransport
import Foundation

/// Drives a run: publishes sampling jobs, waits until Redis holds every
/// question's statistics, computes the weights (they need all N entropies),
/// publishes the weighted batches, waits for the trainer's new policy and
/// the evaluator's accuracy, and starts the next iteration.
///
/// Its phase lives in Redis: a restarted coordinator resumes where it was.
/// Publishing is repeatable (samplers, clusterer and trainer are
/// idempotent), so a crash between "published" and "recorded" only repeats work.
public final class Coordinator {
    let env: WorkerEnvironment
    public let spec: RunSpec
    public let run: String
    let progress: @Sendable (String) -> Void

    public init(environment: WorkerEnvironment, spec: RunSpec, run: String, progress: @escaping @Sendable (String) -> Void) {
        env = environment
        self.spec = spec
        self.run = run
        self.progress = progress
    }

    /// One line per iteration and the accuracy of every policy version.
    public struct Outcome: Sendable {
        public var iterations: [IterationSummary]
        public var accuracy: [Int: Double]
    }

    public struct IterationSummary: Sendable {
        public var iteration: Int
        public var kept: Int
        public var droppedAllRight: Int
        public var droppedAllWrong: Int
        public var weightQuantiles: [Double]
        public var entropyAndWeight: [(Double, Double)]
        public var entropies: [Double]
    }

    public func run(shutdown: ShutdownSignal) throws -> Outcome {
        try spec.validate()
        let train = try spec.train.load()
        let test = try spec.test.load()
        guard !train.isEmpty, !test.isEmpty else { throw RunSpec.Invalid(setting: "questions", reason: "the train and test sets must not be empty") }
        let redis = try RedisConnection(endpoint: env.redis)
        let state = RunState(redis: redis, run: run)
        let client = try env.connectBroker(prefetch: 1)
        defer { client.close() }

        var snapshot = try state.snapshot()
        if snapshot.phase == nil {
            try startRun(state: state, client: client, questions: train.count, test: test)
            snapshot = try state.snapshot()
        } else {
            progress("resuming run \(run): iteration \(snapshot.iteration), phase \(snapshot.phase!.rawValue)")
        }
        var summaries: [IterationSummary] = []
        var iteration = max(1, snapshot.iteration)
        while iteration <= spec.iterations, snapshot.phase != .done {
            if shutdown.isRequested { throw CancellationError() }
            summaries.append(try runIteration(iteration, train: train, state: state, client: client, shutdown: shutdown))
            iteration += 1
            snapshot = try state.snapshot()
        }
        try state.setPhase(.done, iteration: spec.iterations, version: spec.iterations)
        let accuracy = try waitForAccuracy(version: spec.iterations, state: state, shutdown: shutdown)
        return Outcome(iterations: summaries, accuracy: accuracy)
    }

    private func startRun(state: RunState, client: AMQPClient, questions: Int, test: [Question]) throws {
        progress("starting run \(run): \(questions) train questions, \(test.count) test questions, \(spec.iterations) iteration(s)")
        try state.start(spec: specJSON, questions: questions, iterations: spec.iterations)
        try state.storeEvaluationSettings(questions: test, maxNewTokens: spec.evalMaxNewTokens)
        let start = try Policy.load(from: URL(fileURLWithPath: spec.checkpoint), lora: spec.lora, seed: spec.seed)
        let path = try env.store.savePolicy(start, run: run, version: 0)
        try state.recordCheckpoint(version: 0, path: path.path)
        try state.setPhase(.sampling, iteration: 1, version: 0)
        // The evaluator measures the starting policy like any other version.
        try client.publish(exchange: Topology.eventsExchange, routingKey: "checkpoint.ready",
                           body: Envelope(type: CheckpointReady.type, run: run, body: CheckpointReady(version: 0, path: path.path).body).bytes)
    }

    private func runIteration(_ iteration: Int, train: [Question], state: RunState, client: AMQPClient, shutdown: ShutdownSignal) throws -> IterationSummary {
        let version = iteration - 1
        var snapshot = try state.snapshot()

        // 1. Sampling: publish the jobs of questions without statistics yet.
        if snapshot.phase == .sampling || snapshot.iteration < iteration {
            try state.setPhase(.sampling, iteration: iteration, version: version)
            let done = try state.statistics(iteration: iteration)
            let jobs = train.filter { done[$0.id] == nil }.map { q in
                (exchange: Topology.jobsExchange, routingKey: "sample",
                 body: Envelope(type: SampleJob.type, run: run, body: SampleJob(
                    iteration: iteration, version: version, question: q, settings: spec.sampling, seed: spec.seed, loss: spec.loss).body).bytes)
            }
            if !jobs.isEmpty { try client.publish(jobs) }
            progress("iteration \(iteration): published \(jobs.count) sampling jobs (policy v\(version), n = \(spec.sampling.n))")
            try waitUntil(shutdown: shutdown, every: 2) {
                let count = try state.statisticsCount(iteration: iteration)
                var depth = 0
                try? client.perform { depth = try $0.inspectQueue(Topology.sampleQueue).messages }
                progress("iteration \(iteration) sampling: \(count)/\(train.count) questions clustered, \(depth) jobs waiting")
                return count >= train.count
            }
        }

        // 2. Weights over all N kept questions, then weighted batches for the trainer.
        let records = try state.statistics(iteration: iteration)
        let rows = train.compactMap { q in records[q.id].map { (q, $0) } }
        let stats = rows.map { _, r in
            (entropy: r["entropy"]?.numberValue ?? 0, accuracy: r["accuracy"]?.numberValue ?? 0,
             dominant: r["dominant_incorrect"]?.numberValue ?? 0, kept: r["kept"]?.boolValue ?? false)
        }
        let strategy = spec.weighting.questionStrategy
        let weights: [Double?]
        do {
            weights = try Weights.assign(scores: stats.map { strategy.score(entropy: $0.entropy, accuracy: $0.accuracy, dominantIncorrect: $0.dominant) },
                                         kept: stats.map(\.kept), strategy: strategy, mapping: spec.mapping)
        } catch {
            try state.setPhase(.failed, iteration: iteration, version: version, note: error.description)
            throw error
        }
        let keptIndices = stats.indices.filter { stats[$0].kept }
        var items: [TrainingItem] = []
        for (i, (question, record)) in rows.enumerated() {
            guard let weight = weights[i] else { continue }
            for e in record["examples"]?.arrayValue ?? [] {
                guard case var .object(pairs) = e else { continue }
                pairs.removeAll { $0.0 == "weight" }
                pairs.append(("weight", .number(weight)))
                if let example = TrainingExample(json: .object(pairs)) { items.append(TrainingItem(question: question.text, example: example)) }
            }
        }
        let summary = IterationSummary(
            iteration: iteration, kept: keptIndices.count, droppedAllRight: rows.filter { $0.1["all_correct"]?.boolValue == true }.count,
            droppedAllWrong: stats.filter { !$0.kept && $0.accuracy == 0 }.count, weightQuantiles: WeighingStage.distribution(weights),
            entropyAndWeight: keptIndices.map { (stats[$0].entropy, weights[$0]!) }, entropies: stats.map(\.entropy))
        progress(String(format: "iteration %d weights: kept %d of %d (dropped all-right %d, all-wrong %d); weights min/q1/median/q3/max %@",
                        iteration, summary.kept, rows.count, summary.droppedAllRight, summary.droppedAllWrong,
                        summary.weightQuantiles.map { String(format: "%.3f", $0) }.joined(separator: " / ")))

        snapshot = try state.snapshot()
        if snapshot.phase == .sampling {
            let batches = TrainingSession.batches(items, size: spec.batchSize, epochs: spec.epochs, seed: spec.seed &+ UInt64(iteration))
            let messages = batches.enumerated().map { index, batch in
                (exchange: Topology.jobsExchange, routingKey: "train",
                 body: Envelope(type: TrainBatch.type, run: run, body: TrainBatch(
                    iteration: iteration, version: version, index: index, count: batches.count, loss: spec.loss,
                    weighting: spec.weighting, learningRate: spec.learningRate, beta: spec.beta, items: batch).body).bytes)
            }
            try client.publish(messages)
            try state.setPhase(.training, iteration: iteration, version: version)
            progress("iteration \(iteration): published \(messages.count) training batches (\(items.count) \(spec.loss.rawValue) examples)")
        }

        // 3. Wait for the trainer's new policy version.
        try waitUntil(shutdown: shutdown, every: 2) {
            let trainer = try state.trainer()
            progress("iteration \(iteration) training: batch \(trainer["batch"] ?? "-") loss \(trainer["loss"] ?? "-")")
            return try state.checkpoint(version: version + 1) != nil
        }
        // 4. From now on samplers serve the new policy (older jobs are stale);
        //    the evaluator measures it in the background.
        if iteration < spec.iterations {
            try state.setPhase(.sampling, iteration: iteration + 1, version: version + 1)
        } else {
            try state.setPhase(.evaluating, iteration: iteration, version: version + 1)
        }
        return summary
    }

    private func waitForAccuracy(version: Int, state: RunState, shutdown: ShutdownSignal) throws -> [Int: Double] {
        try waitUntil(shutdown: shutdown, every: 2) {
            let accuracy = try state.accuracies()
            progress("evaluation: \((0...version).filter { accuracy[$0] != nil }.count)/\(version + 1) policy versions measured")
            return (0...version).allSatisfy { accuracy[$0] != nil }
        }
        return try state.accuracies()
    }

    private func waitUntil(shutdown: ShutdownSignal, every seconds: Double, _ done: () throws -> Bool) throws {
        var last = Date.distantPast
        while true {
            if shutdown.isRequested { throw CancellationError() }
            if Date().timeIntervalSince(last) >= seconds {
                last = Date()
                if try done() { return }
            }
            Thread.sleep(forTimeInterval: 0.1)
        }
    }

    var specJSON: JSON {
        .object([
            ("checkpoint", .string(spec.checkpoint)), ("train", .string(spec.train.description)), ("test", .string(spec.test.description)),
            ("n", .number(Double(spec.sampling.n))), ("temperature", .number(Double(spec.sampling.temperature))),
            ("loss", .string(spec.loss.rawValue)), ("weighting", .string(spec.weighting.rawValue)),
            ("mapping", .string("\(spec.mapping)")), ("iterations", .number(Double(spec.iterations))),
            ("seed", .string(String(spec.seed))), ("lr", .number(Double(spec.learningRate))), ("batch_size", .number(Double(spec.batchSize))),
        ])
    }
}
