import ArgumentParser
import EASTCluster
import EASTCommandLine
import Foundation

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Queue depths and consumers, the current run's phase, progress, trainer loss and accuracy, and every experiment's progress.")

    @OptionGroup var options: WorkerOptions
    @Flag(help: "Refresh every 2 seconds until interrupted.") var watch = false
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        try failing {
            let env = try options.environment(role: "status")
            repeat {
                let status = try ClusterStatus.read(amqp: env.amqp, redis: env.redis)
                if watch, !json { FileHandle.standardOutput.write(Data("\u{1B}[H\u{1B}[2J".utf8)) }
                say(json ? status.json : status.text)
                if watch { Thread.sleep(forTimeInterval: 2) }
            } while watch
        }
    }
}
