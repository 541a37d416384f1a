import EASTCore
import EASTEngine
import EASTStages
import EASTTransport
import Foundation

/// The one active trainer: consumes weighted batches in order, steps the
/// optimizer, and every `checkpointEvery` batches saves model, optimizer and
/// position, acking those batches only after the save. Killed at any point,
/// it restarts from the last save: the broker redelivers the unacked
/// batches, the ones already in the saved model are skipped, and training
/// continues exactly where it stopped. At an iteration's last batch it
/// publishes the new policy version.
public final class TrainerWorker: Worker {
    public static let queue = Topology.trainQueue
    /// Covers the batches held unacked until the next save.
    public var prefetch: Int { checkpointEvery }
    let env: WorkerEnvironment
    let checkpointEvery: Int
    private var session: (run: String, iteration: Int, session: TrainingSession)?
    private var position: CheckpointStore.TrainerPosition?
    private var pending: [AMQPDelivery] = []

    public init(environment: WorkerEnvironment, checkpointEvery: Int = 4) {
        env = environment
        self.checkpointEvery = max(1, checkpointEvery)
    }

    /// Unsaved batches go back to the queue when the connection closes.
    public var stopNote: String? { "\(pending.count) unsaved batch(es) returned to the queue" }

    /// A failed step leaves the in-memory session ahead of the save: drop it
    /// and return the unsaved batches, so training resumes from the save.
    public func abandon(_ client: AMQPClient) throws {
        for d in pending { try client.nack(d, requeue: true) }
        pending.removeAll()
        session = nil
        position = nil
    }

    public func handle(_ batch: TrainBatch, _ work: Work) throws -> Disposition {
        let spec = try work.spec()
        guard batch.items.allSatisfy({ $0.example.kind == spec.loss }) else {
            throw MessageError("batch \(batch.index) of iteration \(batch.iteration) holds examples that are not \(spec.loss.rawValue)")
        }
        let run = work.run, state = work.state
        if position == nil || session?.run != run { position = try env.store.trainerPosition(run: run) }
        // Already in the saved model (a redelivery after a restart): skip it.
        if let p = position, (batch.iteration, batch.index) <= (p.iteration, p.batch) {
            if batch.index == batch.count - 1 { try publishPolicy(batch, work) }
            return .done
        }
        let current = try sessionFor(batch, run: run, spec: spec)
        let report = current.step(batch.items)
        let step = (position?.iteration == batch.iteration ? position!.step : 0) + pendingSteps() + 1
        pending.append(work.delivery)
        try state.recordTrainerStep(iteration: batch.iteration, batch: batch.index, step: step, loss: report.loss)
        env.metrics.gauge("trainer_loss").record(Double(report.loss))
        let last = batch.index == batch.count - 1
        if pending.count >= checkpointEvery || last {
            let saved = CheckpointStore.TrainerPosition(iteration: batch.iteration, batch: batch.index, step: step)
            try env.store.saveTrainer(current, position: saved, run: run)
            position = saved
            for d in pending { try work.client.ack(d) }
            pending.removeAll()
        }
        if last {
            try publishPolicy(batch, work)
            session = nil
        }
        return .deferred
    }

    /// Steps taken since the last save (their batches are still pending).
    private func pendingSteps() -> Int { pending.count }

    /// The session of the batch's iteration: resumed from the trainer's save
    /// when it is mid-iteration, else started from the policy version.
    private func sessionFor(_ batch: TrainBatch, run: String, spec: RunSpec) throws -> TrainingSession {
        if let s = session, s.run == run, s.iteration == batch.iteration { return s.session }
        let start = try env.store.loadPolicy(run: run, version: batch.version)
        var policy = start
        var optimizer: AdamW?
        if let p = position, p.iteration == batch.iteration {
            let dir = env.store.trainerDirectory(run: run)
            policy = try Policy.load(from: dir, version: batch.version)
            let adam = policy.model.adapter.map { AdamW(entries: $0.layout.entries, count: $0.parameterCount) }
                ?? AdamW(layout: policy.model.layout)
            try Checkpoint.loadOptimizer(into: adam, from: dir)
            optimizer = adam
            env.log("resuming iteration \(batch.iteration) after batch \(p.batch) (step \(p.step))")
        }
        let s = TrainingSession(policy: policy, loss: spec.loss, weighting: spec.weighting, learningRate: spec.learningRate,
                                beta: spec.beta, totalSteps: batch.count, reference: spec.loss == .sft ? nil : start.frozenModel(), optimizer: optimizer)
        session = (run, batch.iteration, s)
        return s
    }

    /// Saves policy version+1 (once), records it, tells the evaluator.
    private func publishPolicy(_ batch: TrainBatch, _ work: Work) throws {
        let run = work.run
        let version = batch.version + 1
        let policy = try session?.session.policy ?? Policy.load(from: env.store.trainerDirectory(run: run), version: version)
        policy.version = version
        let path = try env.store.savePolicy(policy, run: run, version: version)
        try work.state.recordCheckpoint(version: version, path: path.path)
        try work.publish(CheckpointReady(version: version, path: path.path), exchange: Topology.eventsExchange, routingKey: "checkpoint.ready")
        env.log("published policy v\(version) of run \(run) after iteration \(batch.iteration)")
    }
}
