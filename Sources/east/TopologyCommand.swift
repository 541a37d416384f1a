import ArgumentParser
import EASTCommandLine
import EASTCore
import EASTTransport

struct TopologyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "topology",
        abstract: "The cluster's RabbitMQ topology.",
        subcommands: [Export.self])

    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the topology as a RabbitMQ definitions file (topology/definitions.json).")

        @Option(help: "Output file (written atomically); standard output when omitted.")
        var output: String?

        @Option(help: "The virtual host: / (scripts/servers.sh's broker) or east (compose's, docker/rabbitmq/topology.json).")
        var vhost = "/"

        func run() throws {
            try failing {
                let text = Topology.standard.definitions(vhost: vhost).text
                if let output { try AtomicFile.write(text, to: output) } else { print(text, terminator: "") }
            }
        }
    }
}
