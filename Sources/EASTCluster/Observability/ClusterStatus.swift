import EASTCore
import EASTStages
import EASTTransport
import Foundation

/// What `east status` shows an operator: every queue's depth and consumers,
/// the current run's phase and progress, and every experiment's progress,
/// read from the broker and Redis.
public struct ClusterStatus: Sendable {
    public struct QueueInfo: Sendable {
        public var name: String
        public var messages: Int
        public var consumers: Int
    }

    public var queues: [QueueInfo]
    public var run: String?
    public var snapshot: RunState.Snapshot?
    public var clustered: Int
    public var trainer: RunState.TrainerProgress?
    public var accuracy: [Int: Double]
    public var experiments: [ExperimentProgress] = []
    /// The workers alive, with how busy each was in the last minute.
    public var workers: [WorkerRegistry.Entry] = []

    /// Reads through the first broker node that answers.
    public static func read(amqp: [Endpoint], redis: RedisAddress) throws -> ClusterStatus {
        var firstError: Error?
        var opened: AMQPConnection?
        for node in amqp where opened == nil {
            do { opened = try AMQPConnection(endpoint: node, heartbeat: 0) } catch { firstError = firstError ?? error }
        }
        guard let connection = opened else { throw firstError! }
        defer { connection.close() }
        let queues = try Topology.standard.queues.map { q in
            let (messages, consumers) = try connection.inspectQueue(q.name)
            return QueueInfo(name: q.name, messages: messages, consumers: consumers)
        }
        let r = try RedisConnection(address: redis)
        let experiments = try ExperimentState.all(r)
        let workers = try WorkerRegistry.alive(r)
        guard let run = try RunState.currentRun(r) else {
            return ClusterStatus(queues: queues, run: nil, snapshot: nil, clustered: 0, trainer: nil, accuracy: [:], experiments: experiments,
                                 workers: workers)
        }
        let state = RunState(redis: r, run: run)
        let snapshot = try state.snapshot()
        return ClusterStatus(queues: queues, run: run, snapshot: snapshot,
                             clustered: try state.recordCount(iteration: max(1, snapshot.iteration)),
                             trainer: try state.trainer(), accuracy: try state.accuracies(), experiments: experiments,
                             workers: workers)
    }

    /// Per role: replicas and their busy share of the last minute; then
    /// which broker node and Redis server each worker uses.
    var workersText: String {
        guard !workers.isEmpty else { return "" }
        var out = "\nworker                broker node            redis (primary)\n"
        for worker in workers {
            out += worker.name.padding(toLength: 22, withPad: " ", startingAt: 0)
                + (worker.broker ?? "-").padding(toLength: 23, withPad: " ", startingAt: 0) + (worker.redis ?? "-") + "\n"
        }
        out += "\nutilisation (busy share of the last minute):\n"
        for role in Set(workers.map(\.role)).sorted() {
            let group = workers.filter { $0.role == role }
            let mean = group.map(\.utilisation.recent).reduce(0, +) / Double(group.count)
            out += role.padding(toLength: 12, withPad: " ", startingAt: 0) + String(format: "%d x %3.0f%%  (", group.count, mean * 100)
                + group.map { String(format: "%@ %.0f%%", $0.name, $0.utilisation.recent * 100) }.joined(separator: ", ") + ")\n"
        }
        return out
    }

    var experimentsText: String {
        experiments.isEmpty ? "" : "\nexperiments:\n" + experiments.map { $0.text + "\n" }.joined()
    }

    public var text: String {
        var out = "queue                 ready  consumers\n"
        for q in queues {
            out += q.name.padding(toLength: 20, withPad: " ", startingAt: 0) + String(q.messages).leftPadded(7) + String(q.consumers).leftPadded(11) + "\n"
        }
        guard let run, let s = snapshot else { return out + "no run yet\n" + workersText + experimentsText }
        out += "\nrun \(run): phase \(s.phase?.rawValue ?? "-"), iteration \(s.iteration)/\(s.iterations), policy v\(s.version)\n"
        out += "questions recorded \(clustered)/\(s.questions)\n"
        out += "trainer: " + (trainer.map { "iteration \($0.iteration), batch \($0.batch), step \($0.step), loss " + String(format: "%.6f", $0.loss) } ?? "-") + "\n"
        out += "accuracy: " + (accuracy.isEmpty ? "-" : accuracy.keys.sorted().map { "v\($0) \(String(format: "%.1f%%", accuracy[$0]! * 100))" }.joined(separator: ", ")) + "\n"
        out += "dead-lettered: \(queues.first { $0.name == Topology.deadLetterQueue }?.messages ?? 0)\n"
        if let note = s.note, !note.isEmpty { out += "note: \(note)\n" }
        return out + workersText + experimentsText
    }

    /// `east status --json`.
    struct Report: Encodable {
        struct Queue: Encodable { var name: String; var messages: Int; var consumers: Int }
        var queues: [Queue]
        var run: String?
        var phase: String?
        var iteration: Int
        var iterations: Int
        var policyVersion: Int
        var questions: Int
        var clustered: Int
        var trainer: RunState.TrainerProgress?
        var accuracy: [String: Double]
        var deadLettered: Int
        var experiments: [ExperimentProgress]
        var workers: [WorkerRegistry.Entry]

        enum CodingKeys: String, CodingKey {
            case queues, run, phase, iteration, iterations, policyVersion = "policy_version", questions, clustered, trainer, accuracy
            case deadLettered = "dead_lettered", experiments, workers
        }
    }

    public var json: String {
        let report = Report(
            queues: queues.map { .init(name: $0.name, messages: $0.messages, consumers: $0.consumers) }, run: run,
            phase: snapshot?.phase?.rawValue, iteration: snapshot?.iteration ?? 0, iterations: snapshot?.iterations ?? 0,
            policyVersion: snapshot?.version ?? 0, questions: snapshot?.questions ?? 0, clustered: clustered,
            trainer: trainer, accuracy: Dictionary(uniqueKeysWithValues: accuracy.map { ("v\($0.key)", $0.value) }),
            deadLettered: queues.first { $0.name == Topology.deadLetterQueue }?.messages ?? 0, experiments: experiments,
            workers: workers)
        return (try? JSONCoding.string(report)) ?? "{}"
    }
}

extension String {
    func leftPadded(_ width: Int) -> String { String(repeating: " ", count: max(0, width - count)) + self }
}
