/// The loss a self-training run optimises.
public enum LossKind: String, CaseIterable, Codable, Sendable {
    case sft, dpo, kto
}

/// One weighted training example built from a question's own responses.
/// Encoded flat, `{"kind": "sft", "id": ..., "response": ..., "weight": ...}`,
/// in records, batches and `east weights --examples`.
public enum TrainingExample: Equatable, Sendable {
    /// SFT: imitate one correct response.
    case sft(questionID: String, response: String, weight: Double)
    /// DPO: prefer a correct response over one from the most common wrong answer.
    case dpo(questionID: String, chosen: String, rejected: String, weight: Double)
    /// KTO: one unpaired response, desirable (correct) or undesirable (wrong).
    case kto(questionID: String, response: String, desirable: Bool, weight: Double)

    public var questionID: String {
        switch self {
        case let .sft(id, _, _), let .dpo(id, _, _, _), let .kto(id, _, _, _): return id
        }
    }

    public var weight: Double {
        switch self {
        case let .sft(_, _, w), let .dpo(_, _, _, w), let .kto(_, _, _, w): return w
        }
    }
}

extension TrainingExample {
    /// The loss this example is for.
    public var kind: LossKind {
        switch self {
        case .sft: return .sft
        case .dpo: return .dpo
        case .kto: return .kto
        }
    }

    /// The same example with another weight (records hold weight 1 until
    /// the weights over all N kept questions are known).
    public func weighted(_ weight: Double) -> TrainingExample {
        switch self {
        case let .sft(id, r, _): return .sft(questionID: id, response: r, weight: weight)
        case let .dpo(id, c, r, _): return .dpo(questionID: id, chosen: c, rejected: r, weight: weight)
        case let .kto(id, r, d, _): return .kto(questionID: id, response: r, desirable: d, weight: weight)
        }
    }
}

extension TrainingExample: Codable {
    enum CodingKeys: String, CodingKey { case kind, id, response, chosen, rejected, desirable, weight }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let id = try c.decode(String.self, forKey: .id), weight = try c.decode(Double.self, forKey: .weight)
        switch try c.decode(LossKind.self, forKey: .kind) {
        case .sft: self = .sft(questionID: id, response: try c.decode(String.self, forKey: .response), weight: weight)
        case .dpo: self = .dpo(questionID: id, chosen: try c.decode(String.self, forKey: .chosen),
                               rejected: try c.decode(String.self, forKey: .rejected), weight: weight)
        case .kto: self = .kto(questionID: id, response: try c.decode(String.self, forKey: .response),
                               desirable: try c.decode(Bool.self, forKey: .desirable), weight: weight)
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(kind, forKey: .kind)
        try c.encode(questionID, forKey: .id)
        switch self {
        case let .sft(_, response, _): try c.encode(response, forKey: .response)
        case let .dpo(_, chosen, rejected, _):
            try c.encode(chosen, forKey: .chosen)
            try c.encode(rejected, forKey: .rejected)
        case let .kto(_, response, desirable, _):
            try c.encode(response, forKey: .response)
            try c.encode(desirable, forKey: .desirable)
        }
        try c.encode(weight, forKey: .weight)
    }
}

/// Picks training examples from a kept question's responses.
///
/// Choices are random but repeatable: the generator for a question is seeded
/// from the run seed and the question id, so a redelivered or reordered job
/// picks the same examples.
public enum ExampleSelection {
    /// Which wrong response becomes a KTO question's undesirable example:
    /// one of the most common wrong answer (as DPO's rejected response, and as
    /// the EAST paper's code does), or any wrong response.
    public enum Undesirable: String, CaseIterable, Codable, Sendable {
        case dominant, any
    }

    public static func examples(
        for questionID: String, responses: [String], stats: QuestionStatistics,
        weight: Double, loss: LossKind, seed: UInt64, undesirable: Undesirable = .dominant
    ) -> [TrainingExample] {
        guard stats.kept else { return [] }
        var rng = SeededGenerator(seed: seed, stream: stableHash(questionID))
        let correct = stats.clusters.filter(\.correct).flatMap(\.members).sorted()
        let wrong = stats.clusters.filter { !$0.correct }.flatMap(\.members).sorted()
        guard let chosen = correct.randomElement(using: &rng) else { return [] }
        switch loss {
        case .sft:
            return [.sft(questionID: questionID, response: responses[chosen], weight: weight)]
        case .dpo:
            // Rejected: a response of the most common wrong answer. A question
            // whose only wrong responses have no answer yields no pair.
            guard let rejected = stats.dominantIncorrectCluster?.members.randomElement(using: &rng) else { return [] }
            return [.dpo(questionID: questionID, chosen: responses[chosen], rejected: responses[rejected], weight: weight)]
        case .kto:
            // One desirable and one undesirable example per question keeps the
            // two classes balanced (TRL's KTO defaults assume rough balance).
            let pool = undesirable == .dominant ? stats.dominantIncorrectCluster?.members ?? [] : wrong
            guard let bad = pool.randomElement(using: &rng) else { return [] }
            return [
                .kto(questionID: questionID, response: responses[chosen], desirable: true, weight: weight),
                .kto(questionID: questionID, response: responses[bad], desirable: false, weight: weight),
            ]
        }
    }

    /// FNV-1a, 64-bit: a hash that is the same in every process and run
    /// (Swift's `Hasher` is randomly seeded per process).
    public static func stableHash(_ s: String) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in s.utf8 {
            h ^= UInt64(b)
            h = h &* 0x0000_0100_0000_01B3
        }
        return h
    }
}
