import EASTCore
import EASTTransport

/// What `east status` shows an operator: every queue's depth and consumers,
/// and the current run's phase and progress, read from the broker and Redis.
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
    public var trainer: [String: String]
    public var accuracy: [Int: Double]

    public static func read(amqp: Endpoint, redis: Endpoint) throws -> ClusterStatus {
        let connection = try AMQPConnection(endpoint: amqp, heartbeat: 0)
        defer { connection.close() }
        let queues = try Topology.standard.queues.map { q in
            let (messages, consumers) = try connection.inspectQueue(q.name)
            return QueueInfo(name: q.name, messages: messages, consumers: consumers)
        }
        let r = try RedisConnection(endpoint: redis)
        guard let run = try RunState.currentRun(r) else {
            return ClusterStatus(queues: queues, run: nil, snapshot: nil, clustered: 0, trainer: [:], accuracy: [:])
        }
        let state = RunState(redis: r, run: run)
        let snapshot = try state.snapshot()
        return ClusterStatus(queues: queues, run: run, snapshot: snapshot,
                             clustered: try state.recordCount(iteration: max(1, snapshot.iteration)),
                             trainer: try state.trainer(), accuracy: try state.accuracies())
    }

    public var text: String {
        var out = "queue                 ready  consumers\n"
        for q in queues {
            out += q.name.padding(toLength: 20, withPad: " ", startingAt: 0) + String(q.messages).leftPadded(7) + String(q.consumers).leftPadded(11) + "\n"
        }
        guard let run, let s = snapshot else { return out + "no run yet\n" }
        out += "\nrun \(run): phase \(s.phase?.rawValue ?? "-"), iteration \(s.iteration)/\(s.iterations), policy v\(s.version)\n"
        out += "questions recorded \(clustered)/\(s.questions)\n"
        out += "trainer: step \(trainer["step"] ?? "-"), batch \(trainer["batch"] ?? "-"), loss \(trainer["loss"] ?? "-")\n"
        out += "accuracy: " + (accuracy.isEmpty ? "-" : accuracy.keys.sorted().map { "v\($0) \(String(format: "%.1f%%", accuracy[$0]! * 100))" }.joined(separator: ", ")) + "\n"
        out += "dead-lettered: \(queues.first { $0.name == Topology.deadLetterQueue }?.messages ?? 0)\n"
        if let note = s.note, !note.isEmpty { out += "note: \(note)\n" }
        return out
    }

    public var json: JSON {
        .object([
            ("queues", .array(queues.map { .object([("name", .string($0.name)), ("messages", .number(Double($0.messages))), ("consumers", .number(Double($0.consumers)))]) })),
            ("run", run.map(JSON.string) ?? .null),
            ("phase", snapshot?.phase.map { .string($0.rawValue) } ?? .null),
            ("iteration", .number(Double(snapshot?.iteration ?? 0))), ("iterations", .number(Double(snapshot?.iterations ?? 0))),
            ("policy_version", .number(Double(snapshot?.version ?? 0))),
            ("questions", .number(Double(snapshot?.questions ?? 0))), ("clustered", .number(Double(clustered))),
            ("trainer_step", trainer["step"].flatMap(Double.init).map(JSON.number) ?? .null),
            ("trainer_loss", trainer["loss"].flatMap(Double.init).map(JSON.number) ?? .null),
            ("accuracy", .object(accuracy.keys.sorted().map { ("v\($0)", .number(accuracy[$0]!)) })),
            ("dead_lettered", .number(Double(queues.first { $0.name == Topology.deadLetterQueue }?.messages ?? 0))),
        ])
    }
}

extension String {
    func leftPadded(_ width: Int) -> String { String(repeating: " ", count: max(0, width - count)) + self }
}
