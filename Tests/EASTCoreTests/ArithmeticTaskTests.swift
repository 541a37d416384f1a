@testable import EASTCore
import Testing

@Suite struct ArithmeticTaskTests {
    /// Re-checks every equation of a worked solution: exact integer steps
    /// chained from the start value to the stated answer.
    func verify(_ problem: ArithmeticTask.Problem) -> Bool {
        let lines = problem.solution.split(separator: "\n").map(String.init)
        guard lines.count >= 3, lines.last == "#### \(problem.answer)" else { return false }
        var current: Int?
        for line in lines.dropFirst().dropLast() {
            let t = line.split(separator: " ").map(String.init)  // a op b = c
            guard t.count == 5, let a = Int(t[0]), let b = Int(t[2]), let c = Int(t[4]), t[3] == "=" else { return false }
            if let current, current != a { return false }
            switch t[1] {
            case "+": guard a + b == c else { return false }
            case "-": guard a - b == c, c >= 1 else { return false }
            case "*": guard a * b == c else { return false }
            case "/": guard b != 0, a % b == 0, a / b == c else { return false }
            default: return false
            }
            current = c
        }
        return current == problem.answer
    }

    @Test(arguments: ArithmeticTask.allCases)
    func solutionsAreExactAndStepCountsMatchTheLevel(task: ArithmeticTask) {
        let problems = task.problems(split: .pretrain, count: 500, seed: 3)
        #expect(problems.count == 500)
        #expect(problems.allSatisfy(verify))
        let steps = problems.map { $0.solution.split(separator: "\n").count - 2 }
        #expect(Set(steps) == Set(task == .easy ? [2, 3] : [4, 5]))
        #expect(problems.allSatisfy { $0.answer >= 1 && $0.answer <= (task == .easy ? 99 : 999) })
    }

    @Test func hardIsHarderThanEasy() {
        let easy = ArithmeticTask.easy.problems(split: .test, count: 300, seed: 1)
        let hard = ArithmeticTask.hard.problems(split: .test, count: 300, seed: 1)
        let meanAnswer = { (ps: [ArithmeticTask.Problem]) in Double(ps.map(\.answer).reduce(0, +)) / Double(ps.count) }
        #expect(meanAnswer(hard) > 2 * meanAnswer(easy))
        #expect(hard.map(\.question.count).reduce(0, +) > easy.map(\.question.count).reduce(0, +))
    }

    @Test func deterministicBySeedAndVaried() {
        let a = ArithmeticTask.easy.problems(split: .train, count: 200, seed: 9)
        #expect(a == ArithmeticTask.easy.problems(split: .train, count: 200, seed: 9))
        #expect(a != ArithmeticTask.easy.problems(split: .train, count: 200, seed: 10))
        #expect(Set(a.map(\.question)).count == 200)
        // Many templates, names and objects.
        let openings = Set(a.map { $0.question.split(separator: " ").prefix(2).joined(separator: " ") })
        #expect(openings.count > 30)
    }

    @Test func splitsNeverShareAQuestion() {
        for task in ArithmeticTask.allCases {
            var seen: [String: ArithmeticTask.Split] = [:]
            for split in ArithmeticTask.Split.allCases {
                for seed: UInt64 in [1, 2] {
                    for p in task.problems(split: split, count: 400, seed: seed) {
                        if let other = seen[p.question] { #expect(other == split, "\(p.question)") }
                        seen[p.question] = split
                    }
                }
            }
        }
    }

    @Test func theDatasetReaderReadsEverySplitUnchanged() throws {
        for split in ArithmeticTask.Split.allCases {
            let problems = ArithmeticTask.hard.problems(split: split, count: 50, seed: 4)
            let content = try problems.map { try JSONCoding.string($0.row(for: split)) }.joined(separator: "\n")
            let questions = try DatasetReader().read(content: content, file: "\(split).jsonl").questions
            #expect(questions.map(\.gold) == problems.map { String($0.answer) })
            #expect(questions.map(\.text) == problems.map(\.question))
            if split == .train || split == .validation { #expect(questions.allSatisfy { $0.solution == "#### \($0.gold)" }) }
        }
    }
}
