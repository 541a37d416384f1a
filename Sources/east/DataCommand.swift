import ArgumentParser
import EASTCommandLine
import EASTCore

struct DataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data",
        abstract: "Datasets of the embedded default task.",
        subcommands: [Generate.self])

    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write synthetic arithmetic word problems as GSM8K-form JSONL.",
            discussion: """
                The pretrain and test splits carry worked solutions ending in '#### N'; the train \
                split carries only '#### N', so self-training has to find its own reasoning. \
                No question text appears in two splits.
                """)

        @Option(help: "arith-easy or arith-hard.")
        var task: ArithmeticTask = .easy

        @Option(help: "pretrain, train or test.")
        var split: ArithmeticTask.Split = .train

        @Option(help: "Number of problems.")
        var count: Int = 100

        @Option(help: "Random seed.")
        var seed: UInt64 = 0

        @Option(help: "Output file (written atomically); standard output when omitted.")
        var output: String?

        func validate() throws {
            guard count > 0, count <= 1_000_000 else { throw ValidationError("--count must be between 1 and 1000000, got \(count)") }
        }

        func run() throws {
            try failing {
                let problems = task.problems(split: split, count: count, seed: seed)
                guard problems.count == count else {
                    throw InputError(file: "--count", line: 0, reason: "only \(problems.count) distinct \(task.rawValue) \(split.rawValue) problems could be generated")
                }
                try writeLines(problems.map { $0.row(for: split) }, to: output)
            }
        }
    }
}
