import EASTCore

/// What stage 2 knows about one question after its samples are in: the
/// cluster statistics and the chosen examples (weight 1 until the weights
/// over all N kept questions are known). The clusterer stores one per
/// question in Redis; the in-process run keeps them in memory.
public struct QuestionRecord: Codable, Equatable, Sendable {
    public var questionID: String
    public var n: Int
    public var clusters: Int
    public var entropy: Double
    public var accuracy: Double
    /// `R`: the share of the most common wrong answer.
    public var dominantIncorrect: Double
    public var examples: [TrainingExample]
    /// The sampler that produced the responses (cluster runs only).
    public var sampler: String?
    /// New tokens sampled for the question, all n responses together.
    public var tokens: Int
    /// The entropy of the first and of the second half of the responses: their
    /// correlation across questions is the entropy's split-half reliability.
    public var halfEntropies: [Double]

    enum CodingKeys: String, CodingKey {
        case questionID = "question_id", n, clusters, entropy, accuracy, dominantIncorrect = "dominant_incorrect", examples
        case sampler, tokens, halfEntropies = "half_entropies"
    }

    public var kept: Bool { accuracy > 0 && accuracy < 1 }
    public var allCorrect: Bool { n > 0 && accuracy == 1 }
    public var allWrong: Bool { accuracy == 0 }
}

/// One question of an iteration as the report shows it (Fig. 5's points).
public struct QuestionPoint: Codable, Equatable, Sendable {
    public var entropy: Double
    public var accuracy: Double
    public var dominantIncorrect: Double
    /// nil: the question was dropped (all right or all wrong).
    public var weight: Double?

    enum CodingKeys: String, CodingKey { case entropy, accuracy, dominantIncorrect = "dominant_incorrect", weight }
}

/// Stage 2 of an iteration: from each question's samples to clusters,
/// entropy, weights and training examples. A record needs only its own
/// question (the clusterer makes them one by one); the weights need all N
/// kept questions at once (the coordinator, or the in-process run, calls
/// `weigh` when every record is in).
public enum WeighingStage {
    /// Seeded by the run seed, the policy version and the question id, so any
    /// replica given the same samples picks the same examples.
    public static func record(
        _ question: Question, _ samples: QuestionSamples, spec: RunSpec, version: Int, sampler: String? = nil
    ) -> QuestionRecord {
        let answers = samples.responses.map(AnswerExtractor.extract(from:))
        let stats = AnswerClustering.statistics(answers: answers, gold: question.gold)
        let examples = ExampleSelection.examples(
            for: question.id, responses: samples.responses, stats: stats, weight: 1, loss: spec.loss,
            seed: spec.seed &+ UInt64(version), undesirable: spec.ktoUndesirable)
        let half = answers.count / 2
        let halves = [answers[..<half], answers[half...]].map { AnswerClustering.statistics(answers: Array($0), gold: question.gold).entropy }
        return QuestionRecord(
            questionID: question.id, n: stats.n, clusters: stats.clusters.count, entropy: stats.entropy, accuracy: stats.accuracy,
            dominantIncorrect: stats.dominantIncorrect, examples: examples, sampler: sampler,
            tokens: samples.tokenCounts.reduce(0, +), halfEntropies: halves)
    }

    /// The weights of every question under the run's weighting (dropped
    /// questions get none), the weighted training items, and the iteration's
    /// report so far (training fills in steps and loss).
    public static func weigh(
        _ rows: [(question: Question, record: QuestionRecord)], spec: RunSpec, iteration: Int
    ) throws -> (items: [TrainingItem], report: IterationReport) {
        let strategy = spec.weighting.questionStrategy
        let records = rows.map(\.record)
        let weights = try Weights.assign(
            scores: records.map { strategy.score(entropy: $0.entropy, accuracy: $0.accuracy, dominantIncorrect: $0.dominantIncorrect) },
            kept: records.map(\.kept), strategy: strategy, mapping: spec.mapping)
        var items: [TrainingItem] = []
        for ((question, record), weight) in zip(rows, weights) {
            guard let weight else { continue }
            items += record.examples.map { TrainingItem(question: question.text, example: $0.weighted(weight)) }
        }
        let kept = records.filter(\.kept)
        let report = IterationReport(
            iteration: iteration, questions: records.count, kept: kept.count,
            droppedAllRight: records.filter(\.allCorrect).count, droppedAllWrong: records.filter(\.allWrong).count,
            weightQuantiles: distribution(weights), examples: items.count,
            sampledTokens: records.map(\.tokens).reduce(0, +),
            effectiveSampleSize: Reliability.effectiveSampleSize(weights.compactMap { $0 }),
            entropySplitHalf: Reliability.correlation(kept.map { $0.halfEntropies[0] }, kept.map { $0.halfEntropies[1] }),
            points: zip(records, weights).map { QuestionPoint(entropy: $0.entropy, accuracy: $0.accuracy, dominantIncorrect: $0.dominantIncorrect, weight: $1) })
        return (items, report)
    }

    /// min, quartiles and max of the kept questions' weights, for reports.
    public static func distribution(_ weights: [Double?]) -> [Double] {
        let w = weights.compactMap { $0 }.sorted()
        guard !w.isEmpty else { return [] }
        return [0, 0.25, 0.5, 0.75, 1].map { w[Int((Double(w.count - 1) * $0).rounded())] }
    }
}
