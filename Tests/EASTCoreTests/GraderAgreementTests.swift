import Foundation
@testable import EASTCore
import Testing

/// `east grade` against a peer grader: the (gold, response) pairs in
/// `Tests/Fixtures/grader-cases.jsonl` carry Math-Verify's verdict (made by
/// `scripts/grader/make_cases.py`, so no Python is needed here), a theme and
/// whether the gold needs algebra. A few cases where Math-Verify is plainly
/// wrong carry the right verdict in `expected`, with a note.
@Suite struct GraderAgreementTests {
    struct Case {
        let gold, response, theme: String
        let algebraic: Bool
        let expected: Bool
        let mathVerify: Bool
        let overridden: Bool
    }

    /// Outside the test target's folder, so that SwiftPM does not ask to declare it a resource.
    /// `EAST_GRADER_CASES` points at another file of the same form (a larger pool from the script).
    static let fixture = ProcessInfo.processInfo.environment["EAST_GRADER_CASES"]
        ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/grader-cases.jsonl").path

    static func cases() throws -> [Case] {
        try JSONLines.lines(ofFile: fixture).map { number, text in
            let row = try JSONLines.object(text, file: fixture, line: number)
            let override = row["expected"]?.boolValue
            return Case(
                gold: row["gold"]?.stringValue ?? "", response: row["response"]?.stringValue ?? "",
                theme: row["theme"]?.stringValue ?? "", algebraic: row["algebraic"]?.boolValue ?? false,
                expected: override ?? row["mv"]?.boolValue ?? false, mathVerify: row["mv"]?.boolValue ?? false,
                overridden: override != nil)
        }
    }

    /// What `east grade` says (as `GradeReport` does).
    static func grade(_ c: Case) -> Bool {
        guard let answer = AnswerExtractor.extract(from: c.response) else { return false }
        return AnswerEquivalence.equivalentNormalized(AnswerNormalizer.normalize(answer), AnswerNormalizer.normalize(c.gold))
    }

    @Test func agreesWithMathVerify() throws {
        let cases = try Self.cases()
        #expect(cases.count > 1000)
        var agree: [String: (Int, Int)] = [:]
        var falsePositives: [String] = [], misses: [String] = []
        var agreeRaw = 0
        for c in cases {
            let ours = Self.grade(c)
            if ours == c.mathVerify { agreeRaw += 1 }
            let category = c.algebraic ? "algebraic" : "not algebraic"
            for key in [category, "theme " + c.theme, "all"] {
                let (a, n) = agree[key] ?? (0, 0)
                agree[key] = (a + (ours == c.expected ? 1 : 0), n + 1)
            }
            let line = "[\(c.theme)\(c.algebraic ? ", algebraic" : "")] gold \(c.gold.debugDescription) <- \(String(c.response.suffix(160)).debugDescription)"
            if ours && !c.expected { falsePositives.append(line) }
            if !ours && c.expected { misses.append(line) }
        }
        var report = "Agreement with Math-Verify (\(cases.filter(\.overridden).count) verdicts overridden; "
            + "\(agreeRaw)/\(cases.count) with its raw verdicts):\n"
        for key in agree.keys.sorted() {
            let (a, n) = agree[key]!
            report += "  \(key): \(a)/\(n) = \(String(format: "%.1f", 100 * Double(a) / Double(n)))%\n"
        }
        report += "False positives (\(falsePositives.count)):\n" + falsePositives.joined(separator: "\n")
        report += "\nMisses (\(misses.count)):\n" + misses.joined(separator: "\n")
        print(report)

        func rate(_ key: String) -> Double { agree[key].map { Double($0.0) / Double($0.1) } ?? 0 }
        #expect(falsePositives.isEmpty, "\(falsePositives.count) false positives")
        #expect(rate("not algebraic") >= 0.97, "not algebraic: \(rate("not algebraic"))")
        #expect(rate("algebraic") >= 0.80, "algebraic: \(rate("algebraic"))")
    }

    @Test func gradingIsDeterministic() throws {
        let cases = try Self.cases().prefix(300)
        #expect(cases.map(Self.grade) == cases.map(Self.grade))
    }
}
