import ArgumentParser
import EASTCommandLine
import EASTCore
import EASTStages
import Foundation

/// `east power`: how many seeds and test questions an experiment needs to
/// see a difference, from a pilot's measured inputs (each primary
/// comparison's share of discordant answers and seed-to-seed variance, in its
/// `results.json`) or from given ones. The detectable difference is that of
/// the interval that governs (`Power.governingMinimumDetectableDifference`).
struct PowerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "power",
        abstract: "Seeds and test questions needed to detect a difference, from a pilot experiment or given inputs.",
        discussion: "Examples: east power --pilot experiments/pilot-sft --questions 3000 --seeds 5; "
            + "east power --discordant 0.15 --seed-sd 0.5 --questions 5000 --seeds 3")

    @Option(help: ArgumentHelp("A pilot experiment's folder: its primary comparisons' measured inputs; repeatable.", valueName: "dir"))
    var pilot: [String] = []
    @Option(help: "Share of (seed, question) pairs answered differently by the two settings (0 to 1), instead of a pilot.")
    var discordant: Double?
    @Option(help: "Seed-to-seed standard deviation of the difference, in points (with --discordant).")
    var seedSd = 0.0
    @Option(help: "Test questions of the planned experiment.") var questions: Int
    @Option(help: "Seeds of the planned experiment.") var seeds: Int
    @Option(help: "The difference to detect, in points.") var target = 1.0

    func validate() throws {
        guard pilot.isEmpty != (discordant == nil) else { throw ValidationError("give --pilot DIR or --discordant (not both)") }
        if let discordant, !(discordant > 0 && discordant <= 1) { throw ValidationError("--discordant must be in (0, 1], got \(discordant)") }
        guard seedSd >= 0, seedSd <= 100 else { throw ValidationError("--seed-sd must be from 0 to 100 points, got \(seedSd)") }
        guard (1...10_000_000).contains(questions) else { throw ValidationError("--questions must be from 1 to 10000000, got \(questions)") }
        guard (1...1000).contains(seeds) else { throw ValidationError("--seeds must be from 1 to 1000, got \(seeds)") }
        guard target > 0, target <= 100 else { throw ValidationError("--target must be in (0, 100] points, got \(target)") }
    }

    /// One comparison's inputs: the share of discordant answers and the seed variance (fractions).
    struct Inputs {
        var name: String
        var discordant: Double
        var seedVariance: Double
    }

    func run() throws {
        try failing {
            var inputs: [Inputs] = []
            if let discordant {
                inputs = [Inputs(name: "given", discordant: discordant, seedVariance: (seedSd / 100) * (seedSd / 100))]
            }
            for folder in pilot {
                let file = URL(fileURLWithPath: folder).appendingPathComponent("results.json")
                guard let data = FileManager.default.contents(atPath: file.path) else {
                    throw RunSpec.Invalid(setting: file.path, reason: "cannot be read (a finished experiment's folder holds it)")
                }
                let results = try JSONCoding.decode(ExperimentResults.self, from: data, what: file.path)
                let primary = results.comparisons.filter(\.primary)
                guard !primary.isEmpty else { throw RunSpec.Invalid(setting: file.path, reason: "has no primary comparison") }
                for entry in primary {
                    inputs.append(Inputs(name: "\(results.experiment): \(ExperimentReport.name(entry.setting)) vs \(ExperimentReport.name(entry.baseline))",
                                         discordant: entry.comparison.discordantShare, seedVariance: entry.comparison.seedVariance))
                }
            }
            for input in inputs { say(try plan(input)) }
        }
    }

    func plan(_ input: Inputs) throws -> String {
        func mde(_ n: Int, _ s: Int) throws -> Double {
            try Power.governingMinimumDetectableDifference(questions: n, seeds: s, discordantShare: input.discordant, seedVariance: input.seedVariance)
        }
        guard input.discordant > 0 else { return input.name + ": no answer differs between the two settings; nothing to plan from" }
        let goal = target / 100
        let share = input.discordant * 100
        var lines = [input.name + String(format: share < 1 ? ": %.2f%% of answers differ, seed sd %.2f points" : ": %.1f%% of answers differ, seed sd %.2f points",
                                          share, input.seedVariance.squareRoot() * 100)]
        lines.append(String(format: "  detectable at %d questions x %d seeds: %.2f points (80%% power, 5%% two-sided, the governing interval)",
                            questions, seeds, try mde(questions, seeds) * 100))
        let seedsNeeded = try (2...1000).first { try mde(questions, $0) <= goal }
        lines.append(String(format: "  %.2f points at %d questions: ", target, questions) + (seedsNeeded.map { "\($0) seeds" } ?? "more than 1000 seeds"))
        if let n = try Power.governingQuestionsNeeded(forDifference: goal, seeds: seeds, discordantShare: input.discordant,
                                                      seedVariance: input.seedVariance) {
            lines.append(String(format: "  %.2f points with %d seeds: %d questions", target, seeds, n))
        } else {
            lines.append(String(format: "  %.2f points with %d seeds: no number of questions (the seeds' spread alone is too wide)", target, seeds))
        }
        return lines.joined(separator: "\n")
    }
}
