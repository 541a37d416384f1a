/// `east grade`: grades `{"response", "gold"}` lines. Every line is checked
/// before anything is written, so bad input leaves no partial output.
public enum GradeReport {
    /// One output line: the final answer found (null: none), its normal form, and the verdict.
    public struct Line: Encodable, Equatable, Sendable {
        public var extracted: String?
        public var normalized: String?
        public var correct: Bool

        enum CodingKeys: String, CodingKey { case extracted, normalized, correct }
        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(extracted, forKey: .extracted)
            try c.encode(normalized, forKey: .normalized)
            try c.encode(correct, forKey: .correct)
        }
    }

    /// One output line per input line.
    public static func grade(lines: [(number: Int, text: String)], file: String) throws -> [Line] {
        try lines.map { number, text in
            let row = try JSONLines.object(text, file: file, line: number)
            guard let response = row["response"]?.stringValue else {
                throw InputError(file: file, line: number, reason: "field \"response\" must be a string")
            }
            guard let gold = row["gold"]?.stringValue else {
                throw InputError(file: file, line: number, reason: "field \"gold\" must be a string (a final answer)")
            }
            let grade = Grader.grade(response: response, gold: gold)
            return Line(extracted: grade.extracted, normalized: grade.extracted.map(AnswerNormalizer.normalize), correct: grade.correct)
        }
    }
}
