import Foundation

/// Where and why an input line was rejected. The description reads
/// `file:line: reason`, the form editors and terminals link to.
public struct InputError: Error, CustomStringConvertible, Sendable {
    public let file: String
    public let line: Int
    public let reason: String

    public init(file: String, line: Int, reason: String) {
        self.file = file
        self.line = line
        self.reason = reason
    }

    public var description: String { "\(file):\(line): \(reason)" }
}

/// Reads JSON Lines files one object a line, with errors that name the line.
public enum JSONLines {
    /// The non-blank lines of a file as (1-based line number, text).
    public static func lines(ofFile path: String) throws -> [(number: Int, text: String)] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw InputError(file: path, line: 0, reason: "cannot read the file")
        }
        return lines(of: String(decoding: data, as: UTF8.self))
    }

    public static func lines(of content: String) -> [(number: Int, text: String)] {
        var out: [(Int, String)] = []
        for (i, line) in content.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let text = line.hasSuffix("\r") ? String(line.dropLast()) : String(line)
            if text.allSatisfy(\.isWhitespace) { continue }
            out.append((i + 1, text))
        }
        return out
    }

    /// Parses one line as a JSON object.
    public static func object(_ text: String, file: String, line: Int) throws -> JSON {
        let value: JSON
        do {
            value = try JSON.parse(text)
        } catch {
            throw InputError(file: file, line: line, reason: "not valid JSON (\(error))")
        }
        guard case .object = value else { throw InputError(file: file, line: line, reason: "expected a JSON object") }
        return value
    }
}

/// Reads question datasets in the two forms users bring:
/// - GSM8K: `{"question", "answer"}`, the gold answer after the last `#### `;
/// - MATH: `{"problem", "solution"}` or `{"question", "answer"}`, the gold
///   answer in the last `\boxed{...}` of the solution.
///
/// A row may instead carry its final answer directly in `gold` (or
/// `ground_truth`). The id is the row's `id` or `idx` field, else `line-N`.
public struct DatasetReader: Sendable {
    /// When true a bad line is counted in `skipped` instead of ending the read.
    public var skipBad: Bool

    public init(skipBad: Bool = false) {
        self.skipBad = skipBad
    }

    public struct Result: Sendable {
        public var questions: [Question]
        /// The lines that were skipped (only with `skipBad`).
        public var skipped: [InputError]
    }

    public func read(file path: String) throws -> Result {
        try read(lines: JSONLines.lines(ofFile: path), file: path)
    }

    public func read(content: String, file: String) throws -> Result {
        try read(lines: JSONLines.lines(of: content), file: file)
    }

    private func read(lines: [(number: Int, text: String)], file: String) throws -> Result {
        var result = Result(questions: [], skipped: [])
        var seen: [String: Int] = [:]
        for (number, text) in lines {
            do {
                let question = try Self.question(from: JSONLines.object(text, file: file, line: number), file: file, line: number)
                if let first = seen[question.id] {
                    throw InputError(file: file, line: number, reason: "duplicate id \"\(question.id)\" (first on line \(first))")
                }
                seen[question.id] = number
                result.questions.append(question)
            } catch let error as InputError where skipBad {
                result.skipped.append(error)
            }
        }
        return result
    }

    /// Builds one question from a parsed row.
    public static func question(from row: JSON, file: String, line: Int) throws -> Question {
        func fail(_ reason: String) -> InputError { InputError(file: file, line: line, reason: reason) }
        func text(_ key: String) throws -> String? {
            guard let value = row[key], value != .null else { return nil }
            guard let s = value.stringValue else { throw fail("field \"\(key)\" must be a string") }
            return s
        }
        guard let statement = try text("question") ?? text("problem") else {
            throw fail("missing field \"question\" (or \"problem\")")
        }
        let solution = try text("answer") ?? text("solution")
        let gold: String
        if let direct = try text("gold") ?? text("ground_truth") {
            gold = direct
        } else if let solution {
            guard let extracted = AnswerExtractor.afterHashes(in: solution) ?? AnswerExtractor.lastBoxed(in: solution) else {
                throw fail("no gold answer in the solution (neither \"#### \" nor \\boxed{...})")
            }
            gold = extracted
        } else {
            throw fail("missing field \"answer\" (or \"solution\", \"gold\")")
        }
        let id: String
        switch row["id"] ?? row["idx"] {
        case .none, .some(.null): id = "line-\(line)"
        case let .some(.string(s)): id = s
        case let .some(value):
            guard let n = value.intValue else { throw fail("field \"id\" must be a string or an integer") }
            id = String(n)
        }
        return Question(id: id, text: statement, gold: gold, solution: solution)
    }
}
