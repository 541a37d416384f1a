/// The embedded default task: grade-school arithmetic word problems,
/// generated deterministically from a seed, in GSM8K's JSONL form.
///
/// A problem follows one quantity (a person's marbles, say) through 2 to 5
/// steps of +, -, x and / with exact integer results. Its worked solution
/// restates the start and writes one equation a line, ending in `#### N`, the
/// way GSM8K does, so the dataset reader and the answer extractor treat it
/// exactly like the real benchmark.
public enum ArithmeticTask: String, CaseIterable, Codable, Sendable {
    /// GSM8K-like: 2-3 steps, small numbers.
    case easy = "arith-easy"
    /// Longer chains and larger numbers: harder for the same model.
    case hard = "arith-hard"

    public enum Split: String, CaseIterable, Codable, Sendable {
        /// Worked solutions, to make the backbone.
        case pretrain
        /// Questions and final answers only: self-training finds its own reasoning.
        case train
        /// Held out of the train questions (never trained on): where an
        /// experiment chooses its learning rate and beta before the test set is read.
        case validation
        case test
    }

    struct Level {
        var steps: ClosedRange<Int>
        var start: ClosedRange<Int>
        var operand: ClosedRange<Int>
        var maxValue: Int
    }

    var level: Level {
        switch self {
        case .easy: return Level(steps: 2...3, start: 2...20, operand: 2...9, maxValue: 99)
        case .hard: return Level(steps: 4...5, start: 10...99, operand: 2...40, maxValue: 999)
        }
    }

    /// One generated problem.
    public struct Problem: Equatable, Sendable {
        public var question: String
        public var solution: String
        public var answer: Int

        /// A line of a dataset in GSM8K's form.
        public struct Row: Codable, Equatable, Sendable {
            public var question: String
            public var answer: String
        }

        /// The GSM8K-form row: the train split (and the validation split held
        /// out of it) carries only the final answer.
        public func row(for split: Split) -> Row {
            Row(question: question, answer: split == .train || split == .validation ? "#### \(answer)" : solution)
        }
    }

    /// `count` distinct problems of one split. Splits never share a question:
    /// each question text belongs to exactly one split by a stable hash
    /// (7 of 10 buckets pretrain, 2 train, 1 test; an eighth of the train
    /// buckets, by a second hash, validation), whatever the seeds.
    public func problems(split: Split, count: Int, seed: UInt64) -> [Problem] {
        var rng = SeededGenerator(seed: seed, stream: ExampleSelection.stableHash(rawValue + "/" + split.rawValue))
        var seen = Set<String>()
        var out: [Problem] = []
        var attempts = 0
        while out.count < count, attempts < count * 1000 + 10_000 {
            attempts += 1
            let problem = generate(using: &rng)
            guard Self.split(of: problem.question) == split, seen.insert(problem.question).inserted else { continue }
            out.append(problem)
        }
        return out
    }

    /// The split a question text belongs to.
    public static func split(of question: String) -> Split {
        switch ExampleSelection.stableHash(question) % 10 {
        case 0..<7: return .pretrain
        case 7, 8: return ExampleSelection.stableHash("validation/" + question) % 8 == 0 ? .validation : .train
        default: return .test
        }
    }

    /// The most questions a source may ask of one split and seed (the generator
    /// tries up to a thousand candidates a question).
    public static let maxCount = 100_000

    // MARK: - Generation

    static let names = [
        "Mia", "Leo", "Ava", "Noah", "Emma", "Liam", "Zoe", "Omar", "Lena", "Ravi", "Sara", "Tom",
        "Nina", "Ben", "Ella", "Sam", "Ivy", "Max", "Lucy", "Jack", "Aria", "Finn", "Rosa", "Kai",
    ]
    static let objects = [
        "apples", "marbles", "stickers", "books", "pencils", "cookies", "coins", "shells", "cards",
        "stamps", "beads", "eggs", "candies", "balloons", "crayons", "buttons", "flowers", "toys",
    ]
    static let friends = ["her brother", "a friend", "his sister", "the teacher", "a neighbor", "her cousin"]
    static let containers = ["bags", "boxes", "jars", "baskets", "piles", "rows"]

    enum Operation: CaseIterable {
        case add, subtract, multiply, divide
    }

    private func generate(using rng: inout SeededGenerator) -> Problem {
        let level = self.level
        let name = Self.names.randomElement(using: &rng)!
        let object = Self.objects.randomElement(using: &rng)!
        var value = Int.random(in: level.start, using: &rng)
        var sentences = [Self.opening(name, value, object, using: &rng)]
        var lines = ["\(name) starts with \(value) \(object)."]
        let steps = Int.random(in: level.steps, using: &rng)
        var last: Operation?  // no two multiplications or divisions in a row
        for _ in 0..<steps {
            let (operation, operand) = chooseStep(value: value, after: last, using: &rng)
            let result: Int
            switch operation {
            case .add: result = value + operand
            case .subtract: result = value - operand
            case .multiply: result = value * operand
            case .divide: result = value / operand
            }
            sentences.append(Self.sentence(operation, operand, object, using: &rng))
            let symbol = ["+", "-", "*", "/"][Operation.allCases.firstIndex(of: operation)!]
            lines.append("\(value) \(symbol) \(operand) = \(result)")
            value = result
            last = operation
        }
        sentences.append(Self.closing(name, object, using: &rng))
        lines.append("#### \(value)")
        return Problem(question: sentences.joined(separator: " "), solution: lines.joined(separator: "\n"), answer: value)
    }

    /// A step whose result is a whole number between 1 and the level's maximum.
    private func chooseStep(value: Int, after last: Operation?, using rng: inout SeededGenerator) -> (Operation, Int) {
        let level = self.level
        while true {
            let operation = Operation.allCases.randomElement(using: &rng)!
            switch operation {
            case .add:
                let operand = Int.random(in: level.operand, using: &rng)
                if value + operand <= level.maxValue { return (.add, operand) }
            case .subtract:
                let operand = Int.random(in: level.operand, using: &rng)
                if value - operand >= 1 { return (.subtract, operand) }
            case .multiply:
                let operand = Int.random(in: 2...min(5, level.operand.upperBound), using: &rng)
                if value * operand <= level.maxValue, last != .multiply { return (.multiply, operand) }
            case .divide:
                let divisors = (2...min(9, max(2, value))).filter { value % $0 == 0 && value / $0 >= 1 }
                if let operand = divisors.randomElement(using: &rng), last != .divide { return (.divide, operand) }
            }
        }
    }

    private static func opening(_ name: String, _ value: Int, _ object: String, using rng: inout SeededGenerator) -> String {
        [
            "\(name) has \(value) \(object).",
            "\(name) starts the day with \(value) \(object).",
            "There are \(value) \(object) in \(name)'s collection.",
            "\(name) owns \(value) \(object).",
        ].randomElement(using: &rng)!
    }

    private static func sentence(_ operation: Operation, _ n: Int, _ object: String, using rng: inout SeededGenerator) -> String {
        let friend = friends.randomElement(using: &rng)!
        let container = containers.randomElement(using: &rng)!
        switch operation {
        case .add:
            return [
                "Then \(n) more \(object) are bought.", "A friend gives \(n) more \(object).",
                "Later \(n) \(object) are found and added.", "Then the collection grows by \(n) \(object).",
            ].randomElement(using: &rng)!
        case .subtract:
            return [
                "Then \(n) \(object) are given to \(friend).", "Then \(n) \(object) are lost.",
                "Later \(n) of the \(object) are sold.", "Then \(friend) takes \(n) \(object).",
            ].randomElement(using: &rng)!
        case .multiply:
            return [
                "Then the number of \(object) becomes \(n) times as large.", "Then the \(object) are multiplied by \(n).",
                "Then each of the \(object) is traded for \(n) new \(object).",
            ].randomElement(using: &rng)!
        case .divide:
            return [
                "Then the \(object) are split equally into \(n) \(container) and only one of the \(container) is kept.",
                "Then the \(object) are shared equally among \(n) people, and one share is kept.",
                "Then the \(object) are divided by \(n).",
            ].randomElement(using: &rng)!
        }
    }

    private static func closing(_ name: String, _ object: String, using rng: inout SeededGenerator) -> String {
        [
            "How many \(object) does \(name) have now?", "How many \(object) are there at the end?",
            "How many \(object) does \(name) have in the end?", "What is the number of \(object) now?",
        ].randomElement(using: &rng)!
    }
}
