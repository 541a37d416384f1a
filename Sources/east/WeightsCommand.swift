import ArgumentParser
import EASTCommandLine
import EASTCore

struct WeightsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "weights",
        abstract: "Cluster sampled responses by final answer and compute EAST weights.",
        discussion: """
            Each input line is {"id", "gold", "responses": [str]}. Each output line holds the \
            question's id, n, clusters [{answer, count, correct}], entropy, accuracy, \
            dominant_incorrect, kept and weight (null when not kept). A summary goes to stderr.
            """)

    enum Mapping: String, ExpressibleByArgument, CaseIterable {
        case power, mean, linear
    }

    @Option(help: "JSON Lines input file.")
    var input: String

    @Option(help: "Output file (written atomically); standard output when omitted.")
    var output: String?

    @Option(help: "Score to weight by: \(WeightingStrategy.allCases.map(\.rawValue).joined(separator: ", ")).")
    var strategy: WeightingStrategy = .entropy

    @Option(help: "Score-to-weight mapping: power (EAST, s^a N / sum s^a), mean (s / mean), linear.")
    var mapping: Mapping = .power

    @Option(name: .customLong("a"), help: "Exponent of the power mapping; a < 0 favours confident questions.")
    var exponent: Double = 1.0

    @Option(help: "Spread of the linear mapping's weights (max - min).")
    var range: Double = 1.0

    @Option(help: "Also write the training examples of every kept question to this file.")
    var examples: String?

    @Option(help: "Loss the examples are for: sft, dpo, kto.")
    var loss: LossKind = .sft

    @Option(help: "Seed for picking examples.")
    var seed: UInt64 = 0

    func run() throws {
        try failing {
            let weightMapping: WeightMapping
            switch mapping {
            case .power: weightMapping = .power(exponent: exponent)
            case .mean: weightMapping = .meanDivision
            case .linear: weightMapping = .linear(range: range)
            }
            let report = try WeightsReport(
                lines: JSONLines.lines(ofFile: input), file: input, strategy: strategy, mapping: weightMapping)
            if let examples {
                try writeLines(report.examples(loss: loss, seed: seed), to: examples)
            }
            try writeLines(report.lines, to: output)
            printError(report.summary)
        }
    }
}
