import ArgumentParser
import EASTCommandLine
import EASTStages

/// `east settings`: every run setting, its spec key, its option, its default
/// and its meaning (the table of docs/configuration.md).
struct SettingsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "settings",
        abstract: "List every run setting with its spec key, option, default and meaning (Markdown).")

    func run() throws {
        print(RunSpec.settingsTable, terminator: "")
    }
}
