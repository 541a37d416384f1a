import EASTCore
import EASTEngine
import EASTStages
import EASTTransport
import Foundation

/// The one active trainer: consumes weighted batches in order, steps the
/// optimizer, and every `checkpointEvery` batches saves model, optimizer and
/// position to the policy store (the network store by default, so a standby
/// on another host resumes from it), acking those batches only after the save. Killed at any point,
/// it restarts from the last save: the broker redelivers the unacked
/// batches, the ones already in the saved model are skipped, and training
/// continues exactly where it stopped. At an iteration's last batch it
/// publishes the new policy version.
///
/// Several runs may train at once (an experiment's runs share the trainer):
/// each run has its own session, position and unsaved batches, so batches of
/// different runs may arrive interleaved and each run's training is the same
/// as if it were alone.
public final class TrainerWorker: Worker {
    public static let queue = Topology.trainQueue
    /// Covers the batches held unacked until the next save.
    public var prefetch: Int { checkpointEvery }
    /// Batches must be stepped in their order (a batch out of order is refused).
    public var keepsOrder: Bool { true }
    let env: WorkerEnvironment
    let checkpointEvery: Int
    let policies: PolicyStore

    /// One run's training in memory.
    private struct RunTraining {
        var session: (iteration: Int, session: TrainingSession)?
        /// The last save, nil before the run's first.
        var position: RunState.TrainerPosition?
        /// Batches stepped since the last save, acked at the next.
        var pending: [AMQPDelivery] = []
        /// Where the session stands: its last stepped batch.
        var stepped: RunState.TrainerPosition?
    }
    private var runs: [String: RunTraining] = [:]

    public init(environment: WorkerEnvironment, checkpointEvery: Int = 4) {
        env = environment
        self.checkpointEvery = max(1, checkpointEvery)
        policies = environment.openPolicyStore()
    }

    private var pendingCount: Int { runs.values.map(\.pending.count).reduce(0, +) }

    /// Unsaved batches go back to the queue when the connection closes.
    public var stopNote: String? { "\(pendingCount) unsaved batch(es) returned to the queue" }

    /// A failed step leaves the in-memory sessions ahead of their saves: drop
    /// them and return the unsaved batches, so training resumes from the saves.
    public func abandon(_ client: AMQPClient) throws -> [AMQPDelivery] {
        let pending = runs.values.flatMap(\.pending).sorted { $0.deliveryTag < $1.deliveryTag }  // as they came
        for d in pending { try client.nack(d, requeue: true) }
        runs.removeAll()
        return pending
    }

    public func handle(_ batch: TrainBatch, _ work: Work) throws -> Disposition {
        let spec = try work.spec()
        guard batch.items.allSatisfy({ $0.example.kind == spec.loss }) else {
            throw MessageError("batch \(batch.index) of iteration \(batch.iteration) holds examples that are not \(spec.loss.rawValue)")
        }
        let run = work.run
        // After a reconnect the broker has requeued every unsaved batch (acks
        // of the old connection's tags do nothing): start again from the saves.
        if runs.values.contains(where: { $0.pending.contains { $0.generation != work.delivery.generation } }) {
            env.log("the broker connection was renewed: unsaved batches come again, training resumes from the last saves")
            runs.removeAll()
        }
        if runs[run] == nil { runs[run] = RunTraining(position: try policies.trainerState(run: run)?.position) }
        // Already in the saved model (a redelivery after a restart): skip it.
        if let p = runs[run]!.position, (batch.iteration, batch.index) <= (p.iteration, p.batch) {
            if batch.index == batch.count - 1 { try publishPolicy(batch, work, session: nil) }
            return .done
        }
        // The last batch stepped (or saved) in this batch's iteration, if any.
        let before = (runs[run]!.stepped ?? runs[run]!.position).flatMap { $0.iteration == batch.iteration ? $0 : nil }
        let expected = before.map { $0.batch + 1 } ?? 0
        // A copy of a batch stepped but not yet saved (the coordinator published
        // the iteration's batches again after a crash): the original is in hand.
        if batch.index < expected { return .done }
        // Training in another order would give another model, silently.
        guard batch.index == expected else {
            throw TrainerError("batch \(batch.index) of iteration \(batch.iteration) of run \(run) arrived before batch \(expected)")
        }
        let current = try sessionFor(batch, run: run, spec: spec)
        let report = current.step(batch.items)
        let step = (before?.step ?? 0) + 1
        runs[run]!.pending.append(work.delivery)
        runs[run]!.stepped = .init(iteration: batch.iteration, batch: batch.index, step: step)
        do {
            try work.state.recordTrainerStep(iteration: batch.iteration, batch: batch.index, step: step, report)
            env.metrics.gauge("trainer_loss").record(report.loss)
            if batch.index == batch.count - 1 {
                // Acked only once the new version is published: a failure in
                // between redelivers the batch, which (saved) publishes it.
                try save(run, session: current, work, ack: false)
                try publishPolicy(batch, work, session: current)
                try ackSaved(run, work)
                runs[run]!.session = nil
            } else if runs[run]!.pending.count >= checkpointEvery {
                try save(run, session: current, work)
            } else if pendingCount >= checkpointEvery {
                // The broker sends no more until some are acked: save every run holding some.
                try saveAll(work, last: run)
            }
        } catch {
            // The loop returns this batch itself, after `abandon` returns the earlier ones.
            runs[run]?.pending.removeAll { $0.deliveryTag == work.delivery.deliveryTag }
            throw error
        }
        return .deferred
    }

    /// The trainer cannot go on with this batch now (not a malformed message:
    /// it goes back to the queue).
    struct TrainerError: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    /// Saves a run's session and (unless told not to yet) acks its batches up to there.
    private func save(_ run: String, session: TrainingSession, _ work: Work, ack: Bool = true) throws {
        guard let position = runs[run]!.stepped else { return }
        try policies.saveTrainer(session, position: position, run: run)
        runs[run]!.position = position
        if ack { try ackSaved(run, work) }
    }

    private func ackSaved(_ run: String, _ work: Work) throws {
        while let d = runs[run]!.pending.first {
            try work.client.ack(d)
            runs[run]!.pending.removeFirst()
        }
    }

    /// `current`'s run last: once its save acks the batch in hand, nothing
    /// may fail and have the loop nack that batch again.
    private func saveAll(_ work: Work, last current: String) throws {
        for run in runs.keys.filter({ $0 != current }) + [current] where !(runs[run]?.pending.isEmpty ?? true) {
            if let session = runs[run]!.session?.session { try save(run, session: session, work) }
        }
    }

    /// The session of the batch's iteration: resumed from the trainer's save
    /// when it is mid-iteration, else started from the policy version.
    private func sessionFor(_ batch: TrainBatch, run: String, spec: RunSpec) throws -> TrainingSession {
        if let s = runs[run]?.session, s.iteration == batch.iteration { return s.session }
        let start = try policies.loadPolicy(run: run, version: batch.version)
        start.adopt(spec)
        var policy = start
        var optimizer: AdamW?
        if let p = runs[run]?.position, p.iteration == batch.iteration {
            let (saved, dir) = try policies.trainerPolicy(run: run, version: batch.version)
            saved.adopt(spec)
            policy = saved
            let adam = policy.model.adapter.map { AdamW(entries: $0.layout.entries, count: $0.parameterCount, settings: spec.optimizer) }
                ?? AdamW(layout: policy.model.layout, settings: spec.optimizer)
            try Checkpoint.loadOptimizer(into: adam, from: dir)
            optimizer = adam
            env.log("resuming run \(run) iteration \(batch.iteration) after batch \(p.batch) (step \(p.step))")
        }
        let s = TrainingSession(policy: policy, spec: spec, totalSteps: batch.count,
                                reference: spec.loss == .sft ? nil : start.frozenModel(), optimizer: optimizer)
        runs[run]!.session = (batch.iteration, s)
        return s
    }

    /// Saves policy version+1 (once) to the store, records it, tells the evaluator.
    private func publishPolicy(_ batch: TrainBatch, _ work: Work, session: TrainingSession?) throws {
        let run = work.run
        let version = batch.version + 1
        let policy = try session?.policy ?? policies.trainerPolicy(run: run, version: version).policy
        policy.version = version
        let manifest = try policies.publish(policy, run: run, version: version)
        try work.publish(CheckpointReady(version: version, manifest: manifest), exchange: Topology.eventsExchange, routingKey: "checkpoint.ready")
        env.log("published policy v\(version) of run \(run) after iteration \(batch.iteration)")
    }
}
