/// `east grade`: grades `{"response", "gold"}` lines. Every line is checked
/// before anything is written, so bad input leaves no partial output.
public enum GradeReport {
    /// One output line per input line: `{"extracted", "normalized", "correct"}`.
    public static func grade(lines: [(number: Int, text: String)], file: String) throws -> [JSON] {
        try lines.map { number, text in
            let row = try JSONLines.object(text, file: file, line: number)
            guard let response = row["response"]?.stringValue else {
                throw InputError(file: file, line: number, reason: "field \"response\" must be a string")
            }
            guard let gold = row["gold"]?.stringValue else {
                throw InputError(file: file, line: number, reason: "field \"gold\" must be a string (a final answer)")
            }
            let extracted = AnswerExtractor.extract(from: response)
            let normalized = extracted.map(AnswerNormalizer.normalize)
            let correct = normalized.map { AnswerEquivalence.equivalentNormalized($0, AnswerNormalizer.normalize(gold)) } ?? false
            return .object([
                ("extracted", extracted.map(JSON.string) ?? .null),
                ("normalized", normalized.map(JSON.string) ?? .null),
                ("correct", .bool(correct)),
            ])
        }
    }
}
