import EASTCore
import EASTTransport
import Foundation
import Testing

@Suite struct TopologyTests {
    static let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("topology/definitions.json").path

    @Test func committedDefinitionsFileMatchesTheCode() throws {
        let text = try String(contentsOfFile: Self.file, encoding: .utf8)
        #expect(try Topology(definitions: JSON.parse(text)) == Topology.standard)
        #expect(text == Topology.standard.definitions().text, "run: east topology export --output topology/definitions.json")
        let compose = try String(contentsOfFile: Self.file.replacingOccurrences(of: "topology/definitions.json", with: "docker/rabbitmq/topology.json"),
                                 encoding: .utf8)
        #expect(compose == Topology.standard.definitions(vhost: "east").text,
                "run: east topology export --vhost east --output docker/rabbitmq/topology.json")
    }

    /// scripts/servers.sh loads the definitions file into the broker (as the
    /// compose broker does); declaring the code's topology on top must then
    /// be a no-op: any difference in arguments is a PRECONDITION_FAILED.
    @Test func brokerAcceptsTheCodeOnTopOfTheFile() throws {
        let c = try AMQPConnection(endpoint: Servers.amqp)
        try Topology.standard.declare(on: c)
        for queue in Topology.standard.queues {
            _ = try c.inspectQueue(queue.name)
        }
    }

    /// The trainer queue's arguments give a hot standby: a second consumer
    /// gets nothing while the first is alive, then takes over its unacked work.
    @Test func trainerQueueArgumentsMakeASecondTrainerAStandby() throws {
        let arguments = try #require(Topology.standard.queues.first { $0.name == Topology.trainQueue }).arguments
        let queue = Servers.unique("test.train")
        let admin = try AMQPConnection(endpoint: Servers.amqp)
        try admin.declareQueue(queue, arguments: arguments)
        defer { try? admin.deleteQueue(queue) }
        try admin.publish([("", queue, Array("b0".utf8)), ("", queue, Array("b1".utf8))])

        var active: AMQPConnection? = try AMQPConnection(endpoint: Servers.amqp)
        let standby = try AMQPConnection(endpoint: Servers.amqp)
        try active!.setPrefetch(10)
        try active!.consume(queue)
        try standby.setPrefetch(10)
        try standby.consume(queue)
        #expect(try active!.nextDelivery(timeout: 5).map { String(decoding: $0.body, as: UTF8.self) } == "b0")
        #expect(try standby.nextDelivery(timeout: 1) == nil)
        active!.close()  // the active trainer dies with b0 (and b1) unacked
        active = nil
        let takeover = try #require(try standby.nextDelivery(timeout: 10))
        #expect(String(decoding: takeover.body, as: UTF8.self) == "b0")  // in order, from where it stopped
    }
}
