import EASTCore

/// Where a run's questions come from: the embedded task or a JSONL file
/// (GSM8K or MATH form, read by `DatasetReader`).
public enum QuestionSource: Equatable, Sendable {
    case task(ArithmeticTask, split: ArithmeticTask.Split, count: Int, seed: UInt64)
    case file(path: String, limit: Int?)

    public func load() throws -> [Question] {
        switch self {
        case let .task(task, split, count, seed):
            return task.problems(split: split, count: count, seed: seed).enumerated().map { i, p in
                let row = p.row(for: split)
                return Question(id: "\(task.rawValue)-\(split.rawValue)-\(seed)-\(i)", text: p.question, gold: String(p.answer),
                                solution: row["answer"]?.stringValue)
            }
        case let .file(path, limit):
            let questions = try DatasetReader().read(file: path).questions
            return limit.map { Array(questions.prefix($0)) } ?? questions
        }
    }

    public var description: String {
        switch self {
        case let .task(task, split, count, seed): return "\(task.rawValue) \(split.rawValue) x\(count) (seed \(seed))"
        case let .file(path, limit): return path + (limit.map { " (first \($0))" } ?? "")
        }
    }
}
