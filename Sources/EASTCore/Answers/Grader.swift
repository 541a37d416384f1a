/// The grader: a response's final answer (`AnswerExtractor`), normalised
/// (`AnswerNormalizer`) and compared with the gold answer
/// (`AnswerEquivalence`). Its version is part of every run's resolved
/// settings, so that results graded by different graders never mix: change it
/// whenever a change to those three moves any verdict of
/// Tests/Fixtures/grader-cases.jsonl.
public enum Grader {
    public static let version = "1"

    /// The final answer a response gives (nil: none) and whether it equals `gold`.
    public static func grade(response: String, gold: String) -> (extracted: String?, correct: Bool) {
        let extracted = AnswerExtractor.extract(from: response)
        return (extracted, extracted.map { AnswerEquivalence.equivalent($0, gold) } ?? false)
    }
}
