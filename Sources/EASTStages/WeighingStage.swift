import EASTCore

/// Stage 2 of an iteration: from each question's samples to clusters,
/// entropy, weights and training examples. Per-question statistics need only
/// that question (the clusterer does them one by one); the weights need all
/// N kept questions at once (the coordinator does them).
public enum WeighingStage {
    public static func statistics(_ question: Question, _ samples: QuestionSamples) -> QuestionStatistics {
        AnswerClustering.statistics(responses: samples.responses, gold: question.gold)
    }

    /// Weights of every question (nil: dropped) under the run's weighting.
    public static func weights(_ stats: [QuestionStatistics], spec: RunSpec) throws -> [Double?] {
        try Weights.assign(stats, strategy: spec.weighting.questionStrategy, mapping: spec.mapping)
    }

    /// The examples of one question, carrying its weight. Seeded by the run
    /// seed, the policy version and the question id.
    public static func examples(
        _ question: Question, _ samples: QuestionSamples, _ stats: QuestionStatistics, weight: Double,
        spec: RunSpec, version: Int
    ) -> [TrainingExample] {
        ExampleSelection.examples(
            for: question.id, responses: samples.responses, stats: stats, weight: weight, loss: spec.loss,
            seed: spec.seed &+ UInt64(version))
    }

    /// min, quartiles and max of the kept questions' weights, for reports.
    public static func distribution(_ weights: [Double?]) -> [Double] {
        let w = weights.compactMap { $0 }.sorted()
        guard !w.isEmpty else { return [] }
        return [0, 0.25, 0.5, 0.75, 1].map { w[Int((Double(w.count - 1) * $0).rounded())] }
    }
}
