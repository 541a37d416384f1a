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
public final class TrainerWorker {
    let env: WorkerEnvironment
    let checkpointEvery: Int
    private var session: (run: String, iteration: Int, session: TrainingSession)?
    private var position: CheckpointStore.TrainerPosition?
    private var pending: [AMQPDelivery] = []

    public init(environment: WorkerEnvironment, checkpointEvery: Int = 4) {
        env = environment
        self.checkpointEvery = max(1, checkpointEvery)
    }

    public func run(shutdown: ShutdownSignal) throws {
        // Prefetch must cover the batches held unacked until the next save.
        let client = try env.connectBroker(prefetch: checkpointEvery)
        defer { client.close() }
        let redis = try RedisConnection(endpoint: env.redis)
        try client.consume(Topology.trainQueue)
        while !shutdown.isRequested {
            guard let delivery = client.next(timeout: 0.5) else { continue }
            do {
                let envelope = try Envelope(bytes: delivery.body, expecting: TrainBatch.type)
                let batch = try TrainBatch(envelope.body)
                try handle(batch, run: envelope.run, delivery: delivery, client: client, state: RunState(redis: redis, run: envelope.run))
            } catch let error as MessageError {
                env.log("dead-lettering a training batch: \(error)")
                try client.nack(delivery, requeue: false)
            }
        }
        // Unsaved batches go back to the queue when the connection closes.
        env.log("shutting down with \(pending.count) unsaved batch(es) returned to the queue")
    }

    private func handle(_ batch: TrainBatch, run: String, delivery: AMQPDelivery, client: AMQPClient, state: RunState) throws {
        if position == nil || session?.run != run { position = try env.store.trainerPosition(run: run) }
        // Already in the saved model (a redelivery after a restart): skip it.
        if let p = position, (batch.iteration, batch.index) <= (p.iteration, p.batch) {
            try client.ack(delivery)
            if batch.index == batch.count - 1 { try publishPolicy(batch, run: run, client: client, state: state) }
            return
        }
        let current = try sessionFor(batch, run: run)
        let report = current.step(batch.items)
        let step = (position?.iteration == batch.iteration ? position!.step : 0) + pendingSteps() + 1
        pending.append(delivery)
        try state.recordTrainerStep(iteration: batch.iteration, batch: batch.index, step: step, loss: report.loss)
        env.metrics.gauge("trainer_loss").record(Double(report.loss))
        env.metrics.ok.increment()
        let last = batch.index == batch.count - 1
        if pending.count >= checkpointEvery || last {
            let saved = CheckpointStore.TrainerPosition(iteration: batch.iteration, batch: batch.index, step: step)
            try env.store.saveTrainer(current, position: saved, run: run)
            position = saved
            for d in pending { try client.ack(d) }
            pending.removeAll()
        }
        if last {
            try publishPolicy(batch, run: run, client: client, state: state)
            session = nil
        }
    }

    /// Steps taken since the last save (their batches are still pending).
    private func pendingSteps() -> Int { pending.count }

    /// The session of the batch's iteration: resumed from the trainer's save
    /// when it is mid-iteration, else started from the policy version.
    private func sessionFor(_ batch: TrainBatch, run: String) throws -> TrainingSession {
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
        let s = TrainingSession(policy: policy, loss: batch.loss, weighting: batch.weighting, learningRate: batch.learningRate,
                                beta: batch.beta, totalSteps: batch.count, reference: batch.loss == .sft ? nil : start.frozenModel(), optimizer: optimizer)
        session = (run, batch.iteration, s)
        return s
    }

    /// Saves policy version+1 (once), records it, tells the evaluator.
    private func publishPolicy(_ batch: TrainBatch, run: String, client: AMQPClient, state: RunState) throws {
        let version = batch.version + 1
        let policy = try session?.session.policy ?? Policy.load(from: env.store.trainerDirectory(run: run), version: version)
        policy.version = version
        let path = try env.store.savePolicy(policy, run: run, version: version)
        try state.recordCheckpoint(version: version, path: path.path)
        try client.publish(exchange: Topology.eventsExchange, routingKey: "checkpoint.ready",
                           body: Envelope(type: CheckpointReady.type, run: run, body: CheckpointReady(version: version, path: path.path).body).bytes)
        env.log("published policy v\(version) after iteration \(batch.iteration)")
    }
}
