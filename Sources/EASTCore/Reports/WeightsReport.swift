/// `east weights`: from `{"id", "gold", "responses"}` lines to per-question
/// statistics and EAST weights. This is the whole weighting stage of a
/// self-training iteration, usable on samples from any model.
public struct WeightsReport: Sendable {
    public struct Row: Sendable {
        public var id: String
        public var gold: String
        public var responses: [String]
        public var stats: QuestionStatistics
        public var weight: Double?
    }

    public var rows: [Row]

    /// Parses and checks every line, then clusters and weighs.
    public init(
        lines: [(number: Int, text: String)], file: String,
        strategy: WeightingStrategy, mapping: WeightMapping
    ) throws {
        var rows: [Row] = []
        var seen: [String: Int] = [:]
        for (number, text) in lines {
            func fail(_ reason: String) -> InputError { InputError(file: file, line: number, reason: reason) }
            let row = try JSONLines.object(text, file: file, line: number)
            let id: String
            if let s = row["id"]?.stringValue { id = s } else if let n = row["id"]?.intValue { id = String(n) } else {
                throw fail("field \"id\" must be a string or an integer")
            }
            if let first = seen[id] { throw fail("duplicate id \"\(id)\" (first on line \(first))") }
            seen[id] = number
            guard let gold = row["gold"]?.stringValue else { throw fail("field \"gold\" must be a string (a final answer)") }
            guard let list = row["responses"]?.arrayValue, !list.isEmpty else {
                throw fail("field \"responses\" must be a non-empty array of strings")
            }
            let responses = try list.enumerated().map { i, value in
                guard let s = value.stringValue else { throw fail("responses[\(i)] must be a string") }
                return s
            }
            let stats = AnswerClustering.statistics(responses: responses, gold: gold)
            rows.append(Row(id: id, gold: gold, responses: responses, stats: stats, weight: nil))
        }
        do {
            let weights = try Weights.assign(rows.map(\.stats), strategy: strategy, mapping: mapping)
            for i in rows.indices { rows[i].weight = weights[i] }
        } catch {
            // Name the question rather than its position.
            guard case let .invalidScore(index, score, reason) = error else { throw error }
            throw WeightError.invalidParameter("question \"\(rows[index].id)\" has score \(score): \(reason)")
        }
        self.rows = rows
    }

    /// One output line: a question's clusters, statistics and weight (null when dropped).
    public struct Line: Encodable, Sendable {
        public struct Cluster: Encodable, Sendable {
            public var answer: String?
            public var count: Int
            public var correct: Bool

            enum CodingKeys: String, CodingKey { case answer, count, correct }
            public func encode(to encoder: Encoder) throws {
                var c = encoder.container(keyedBy: CodingKeys.self)
                try c.encode(answer, forKey: .answer)
                try c.encode(count, forKey: .count)
                try c.encode(correct, forKey: .correct)
            }
        }

        public var id: String
        public var n: Int
        public var clusters: [Cluster]
        public var entropy: Double
        public var accuracy: Double
        public var dominantIncorrect: Double
        public var kept: Bool
        public var weight: Double?

        enum CodingKeys: String, CodingKey { case id, n, clusters, entropy, accuracy, dominantIncorrect = "dominant_incorrect", kept, weight }
        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(id, forKey: .id)
            try c.encode(n, forKey: .n)
            try c.encode(clusters, forKey: .clusters)
            try c.encode(entropy, forKey: .entropy)
            try c.encode(accuracy, forKey: .accuracy)
            try c.encode(dominantIncorrect, forKey: .dominantIncorrect)
            try c.encode(kept, forKey: .kept)
            try c.encode(weight, forKey: .weight)
        }
    }

    /// One line per question.
    public var lines: [Line] {
        rows.map { row in
            Line(id: row.id, n: row.stats.n, clusters: row.stats.clusters.map { .init(answer: $0.answer, count: $0.count, correct: $0.correct) },
                 entropy: row.stats.entropy, accuracy: row.stats.accuracy, dominantIncorrect: row.stats.dominantIncorrect,
                 kept: row.stats.kept, weight: row.weight)
        }
    }

    /// Kept and dropped counts and the weight range, for stderr.
    public var summary: String {
        let kept = rows.compactMap(\.weight)
        let allRight = rows.filter { $0.stats.allCorrect }.count
        let allWrong = rows.filter { $0.stats.allWrong }.count
        let mean = kept.reduce(0, +) / Double(max(1, kept.count))
        return "questions \(rows.count): kept \(kept.count), dropped all-right \(allRight), dropped all-wrong \(allWrong); "
            + "weight min \(Self.format(kept.min() ?? 0)) mean \(Self.format(mean)) max \(Self.format(kept.max() ?? 0))"
    }

    /// Four decimals, without Foundation's locale-dependent formatting.
    static func format(_ x: Double) -> String {
        let scaled = Int((x * 10_000).rounded())
        let sign = scaled < 0 ? "-" : ""
        let whole = abs(scaled) / 10_000, frac = abs(scaled) % 10_000
        let fracText = String(frac)
        return "\(sign)\(whole)." + String(repeating: "0", count: 4 - fracText.count) + fracText
    }

    /// The training examples of every kept question.
    public func examples(loss: LossKind, seed: UInt64) -> [TrainingExample] {
        rows.flatMap { row in
            row.weight.map {
                ExampleSelection.examples(for: row.id, responses: row.responses, stats: row.stats, weight: $0, loss: loss, seed: seed)
            } ?? []
        }
    }
}
