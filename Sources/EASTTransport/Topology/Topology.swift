/// The cluster's RabbitMQ topology: exchanges, queues and bindings.
///
/// It exists twice on purpose: here, so every worker can declare it
/// idempotently at start (a worker never depends on someone else having set
/// up the broker), and as data in `topology/definitions.json`, which the
/// compose broker loads at boot and operators can read. `east topology
/// export` writes the file from this value; a test checks the two agree and
/// that a real broker accepts both.
public struct Topology: Equatable, Sendable {
    public struct Exchange: Equatable, Sendable {
        public var name: String
        public var type: String
    }

    public struct Queue: Equatable, Sendable {
        public var name: String
        public var arguments: [(String, AMQPFieldValue)]

        /// The same name and arguments, in any order (the broker does not order them).
        public static func == (a: Queue, b: Queue) -> Bool {
            let (x, y) = (a.arguments.sorted { $0.0 < $1.0 }, b.arguments.sorted { $0.0 < $1.0 })
            return a.name == b.name && x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        }
    }

    public struct Binding: Equatable, Sendable {
        public var exchange: String
        public var queue: String
        public var routingKey: String
    }

    public var exchanges: [Exchange]
    public var queues: [Queue]
    public var bindings: [Binding]

    // Names every worker uses.
    public static let jobsExchange = "east.jobs"
    public static let eventsExchange = "east.events"
    public static let deadLetterExchange = "east.dlx"
    public static let sampleQueue = "east.sample"
    public static let clusterQueue = "east.cluster"
    public static let trainQueue = "east.train"
    public static let evalQueue = "east.eval"
    public static let checkpointQueue = "east.checkpoints"
    public static let deadLetterQueue = "east.dead"

    /// Tries before a message that keeps failing is dead-lettered.
    public static let deliveryLimit: Int64 = 3

    /// Replicas of each quorum queue, on as many nodes of a RabbitMQ
    /// cluster: with 3, a queue keeps working while any 2 are up. A cluster
    /// of fewer nodes gets one replica a node (a single broker: one).
    public static let replicas: Int64 = 3

    /// Durable quorum queues of `replicas` replicas; work queues dead-letter
    /// after `deliveryLimit` tries; the trainer's queue has a single active
    /// consumer, so a second trainer waits as a hot standby and batches stay
    /// in order.
    public static let standard: Topology = {
        let quorum: [(String, AMQPFieldValue)] = [("x-queue-type", .string("quorum")), ("x-quorum-initial-group-size", .int(replicas))]
        func work(_ name: String, singleActive: Bool = false) -> Queue {
            var arguments: [(String, AMQPFieldValue)] = quorum + [
                ("x-delivery-limit", .int(deliveryLimit)),
                ("x-dead-letter-exchange", .string(deadLetterExchange)),
            ]
            if singleActive { arguments.append(("x-single-active-consumer", .bool(true))) }
            return Queue(name: name, arguments: arguments)
        }
        return Topology(
            exchanges: [
                Exchange(name: jobsExchange, type: "direct"),
                Exchange(name: eventsExchange, type: "topic"),
                Exchange(name: deadLetterExchange, type: "fanout"),
            ],
            queues: [
                work(sampleQueue), work(clusterQueue), work(trainQueue, singleActive: true), work(evalQueue),
                work(checkpointQueue),
                Queue(name: deadLetterQueue, arguments: quorum),
            ],
            bindings: [
                Binding(exchange: jobsExchange, queue: sampleQueue, routingKey: "sample"),
                Binding(exchange: jobsExchange, queue: clusterQueue, routingKey: "cluster"),
                Binding(exchange: jobsExchange, queue: trainQueue, routingKey: "train"),
                Binding(exchange: jobsExchange, queue: evalQueue, routingKey: "eval"),
                Binding(exchange: eventsExchange, queue: checkpointQueue, routingKey: "checkpoint.ready"),
                Binding(exchange: deadLetterExchange, queue: deadLetterQueue, routingKey: ""),
            ])
    }()

    /// Declares everything (idempotent: the same names and arguments are a no-op).
    public func declare(on connection: AMQPConnection) throws {
        for exchange in exchanges { try connection.declareExchange(exchange.name, type: exchange.type) }
        for queue in queues { try connection.declareQueue(queue.name, arguments: queue.arguments) }
        for binding in bindings { try connection.bindQueue(binding.queue, exchange: binding.exchange, routingKey: binding.routingKey) }
    }
}
