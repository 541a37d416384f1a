import Foundation
@testable import EASTCore
import Testing

/// Checks against public data in the forms users bring (skipped, and
/// reported as skipped, when `../shared/datasets` is absent).
@Suite(.enabled(if: SharedDatasets.available, "needs ../shared/datasets"))
struct RealDataTests {
    @Test func everyGSM8KGoldAnswerExtracts() throws {
        for split in ["test", "train"] {
            let result = try DatasetReader().read(file: SharedDatasets.path("gsm8k/\(split).jsonl"))
            #expect(result.questions.count == (split == "test" ? 1319 : 7473))
            for q in result.questions {
                #expect(AnswerEquivalence.number(AnswerNormalizer.normalize(q.gold)) != nil, "\(q.id): gold \(q.gold)")
            }
        }
    }

    @Test func everyMATH500GoldMatchesItsStatedAnswer() throws {
        let path = SharedDatasets.path("math500/test.jsonl")
        let result = try DatasetReader().read(file: path)
        #expect(result.questions.count == 500)
        var mismatches: [String] = []
        for q in result.questions {
            let solution = try #require(q.solution)
            let stated = try #require(solution.range(of: "The answer is:", options: .backwards).map { String(solution[$0.upperBound...]) })
            if !AnswerEquivalence.equivalent(q.gold, stated) {
                mismatches.append("\(q.id): boxed \(q.gold) vs stated \(stated)")
            }
        }
        #expect(mismatches.isEmpty, "\(mismatches.count) mismatches:\n\(mismatches.joined(separator: "\n"))")
    }

    /// The samples mark reasoning steps with "ки" (a step-label artifact of
    /// the file, not model output); it is removed before extraction.
    static func sampleRows(_ file: String) throws -> [(gold: String, responses: [String], labels: [Bool?], answers: [String])] {
        try JSONLines.lines(ofFile: SharedDatasets.path("samples/\(file)")).map { number, text in
            let row = try JSONLines.object(text, file: file, line: number)
            let outputs = row["outputs"]?.arrayValue ?? []
            return (
                gold: row["ground_truth"]?.stringValue ?? "",
                responses: outputs.map { ($0["response"]?.stringValue ?? "").replacingOccurrences(of: "ки", with: "") },
                labels: outputs.map { $0["label"]?.boolValue },
                answers: outputs.map { $0["response_answer"]?.stringValue ?? "" })
        }
    }

    @Test(arguments: ["llama3_8b_math_n15.jsonl", "qwen2.5_7b_math_n15.jsonl"])
    func correctnessAgreesWithSampleLabels(file: String) throws {
        var agree = 0, total = 0
        var disagreements: [String] = []
        for row in try Self.sampleRows(file) {
            let stats = AnswerClustering.statistics(responses: row.responses, gold: row.gold)
            let correctOf = stats.clusterOfResponse.map { stats.clusters[$0].correct }
            for (i, label) in row.labels.enumerated() {
                total += 1
                // "[invalid]" labels mean the file's own grader found no answer: wrong.
                if correctOf[i] == (label ?? false) {
                    agree += 1
                } else {
                    disagreements.append("gold \(row.gold), file answer \(row.answers[i]) labelled \(String(describing: label)), ours \(correctOf[i])")
                }
            }
        }
        print("\(file): \(agree)/\(total) agree; disagreements:\n" + disagreements.joined(separator: "\n"))
        #expect(total == 150)
        #expect(Double(agree) >= 0.95 * Double(total), "\(agree)/\(total)")
    }

    @Test func samplesClusterAndDropAsExpected() throws {
        // qwen's first row (idx 6412) is all wrong: dropped as well.
        let qwen = try Self.sampleRows("qwen2.5_7b_math_n15.jsonl")
        let first = AnswerClustering.statistics(responses: qwen[0].responses, gold: qwen[0].gold)
        #expect(first.allWrong && !first.kept)

        let rows = try Self.sampleRows("llama3_8b_math_n15.jsonl")
        let stats = rows.map { AnswerClustering.statistics(responses: $0.responses, gold: $0.gold) }
        // Read off the file's labels: idx 1545, 7073, 5865, 4142 are all right;
        // the other six are mixed.
        #expect(stats.map(\.kept) == [false, true, false, true, false, true, true, true, false, true])
        #expect(stats[8].allCorrect && stats[0].allCorrect)
        // idx 5018: 13 say 1, 2 say 12 → h = -(13/15 ln 13/15 + 2/15 ln 2/15).
        let p = 13.0 / 15, q = 2.0 / 15
        #expect(abs(stats[1].entropy + p * log(p) + q * log(q)) < 1e-9)
        #expect(stats[1].clusters.count == 2)
        let weights = try Weights.assign(stats, strategy: .entropy, mapping: .power(exponent: 1))
        let kept = weights.compactMap { $0 }
        #expect(kept.count == 6)
        #expect(abs(kept.reduce(0, +) / 6 - 1) < 1e-9)
    }
}
