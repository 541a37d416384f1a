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
                                solution: row.answer)
            }
        case let .file(path, limit):
            let questions = try DatasetReader().read(file: path).questions
            return limit.map { Array(questions.prefix($0)) } ?? questions
        }
    }

    /// Refuses counts that are not positive or would make the task
    /// generator search without end, naming the setting (`train.count`).
    public func validate(setting: String) throws(RunSpec.Invalid) {
        switch self {
        case let .task(_, _, count, _):
            guard count >= 1, count <= ArithmeticTask.maxCount else {
                throw RunSpec.Invalid(setting: "\(setting).count", reason: "must be from 1 to \(ArithmeticTask.maxCount), got \(count)")
            }
        case let .file(path, limit):
            guard !path.isEmpty else { throw RunSpec.Invalid(setting: "\(setting).file", reason: "must name a file") }
            if let limit, limit < 1 { throw RunSpec.Invalid(setting: "\(setting).limit", reason: "must be at least 1, got \(limit)") }
        }
    }

    /// How many questions it asks for (a file's limit, or nil: the whole file).
    public var count: Int? {
        switch self {
        case let .task(_, _, count, _): return count
        case let .file(_, limit): return limit
        }
    }

    public var description: String {
        switch self {
        case let .task(task, split, count, seed): return "\(task.rawValue) \(split.rawValue) x\(count) (seed \(seed))"
        case let .file(path, limit): return path + (limit.map { " (first \($0))" } ?? "")
        }
    }
}

/// `{"task": "arith-easy", "split": "train", "count": 2048, "seed": 1}` or
/// `{"file": "path.jsonl", "limit": 500}` (limit optional).
extension QuestionSource: Codable {
    enum CodingKeys: String, CodingKey, CaseIterable { case task, split, count, seed, file, limit }

    public init(from decoder: Decoder) throws {
        try decoder.refuseUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        if let path = try c.decodeIfPresent(String.self, forKey: .file) {
            self = .file(path: path, limit: try c.decodeIfPresent(Int.self, forKey: .limit))
        } else {
            self = .task(try c.decode(ArithmeticTask.self, forKey: .task), split: try c.decode(ArithmeticTask.Split.self, forKey: .split),
                         count: try c.decode(Int.self, forKey: .count), seed: try c.decode(UInt64.self, forKey: .seed))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case let .task(task, split, count, seed):
            try c.encode(task, forKey: .task)
            try c.encode(split, forKey: .split)
            try c.encode(count, forKey: .count)
            try c.encode(seed, forKey: .seed)
        case let .file(path, limit):
            try c.encode(path, forKey: .file)
            try c.encodeIfPresent(limit, forKey: .limit)
        }
    }
}
