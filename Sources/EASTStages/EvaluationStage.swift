import EASTCore
import EASTEngine

/// One test question's greedy answer: what paired comparisons between runs
/// on the same test set are built from (`eval-v<k>.jsonl`).
public struct QuestionResult: Codable, Equatable, Sendable {
    public var id: String
    /// `Question.contentHash`: what pairs results of the same question.
    public var question: String
    public var correct: Bool
    public var extracted: String?

    public init(id: String, question: String, correct: Bool, extracted: String?) {
        (self.id, self.question, self.correct, self.extracted) = (id, question, correct, extracted)
    }
}

/// Greedy-decoding accuracy on held-out questions, the paper's metric.
public enum EvaluationStage {
    public struct Result: Equatable, Sendable {
        /// In the order of the questions given.
        public var questions: [QuestionResult]
        public var correct: Int { questions.filter(\.correct).count }
        public var total: Int { questions.count }
        public var accuracy: Double { total == 0 ? 0 : Double(correct) / Double(total) }

        public init(questions: [QuestionResult]) {
            self.questions = questions
        }
    }

    /// Greedy answers, `batch` questions decoded together. With `store`,
    /// answers it holds for this policy are taken from there (and graded
    /// again), and new ones are put there.
    public static func evaluate(
        _ policy: Policy, questions: [Question], maxNewTokens: Int, sampler: Sampler, batch: Int = 16, store: SampleStore? = nil
    ) throws -> Result {
        let fingerprint = store == nil ? "" : policy.fingerprint()
        let keys = questions.map { SampleKey.greedy(policy: fingerprint, question: $0, maxNewTokens: maxNewTokens) }
        var responses = try store?.load(keys).map { $0?.responses.first } ?? [String?](repeating: nil, count: questions.count)
        let missing = questions.indices.filter { responses[$0] == nil }
        var start = 0
        while start < missing.count {
            let chunk = Array(missing[start..<min(start + batch, missing.count)])
            let requests = chunk.map {
                GenerationRequest(prompt: policy.format.prompt(questions[$0].text, tokenizer: policy.tokenizer), n: 1,
                                  parameters: .greedy(maxNewTokens: maxNewTokens, stopTokens: policy.format.stopTokens(policy.tokenizer)))
            }
            var fresh: [(key: String, samples: QuestionSamples)] = []
            for (index, samples) in zip(chunk, sampler.generate(requests)) {
                let response = policy.format.response(samples[0].tokens, tokenizer: policy.tokenizer)
                responses[index] = response
                fresh.append((keys[index], QuestionSamples(questionID: questions[index].id, responses: [response], meanLogProbs: [0],
                                                           tokenCounts: [samples[0].tokens.count])))
            }
            try store?.save(fresh)
            start += batch
        }
        return Result(questions: zip(questions, responses).map { question, response in
            let grade = Grader.grade(response: response!, gold: question.gold)
            return QuestionResult(id: question.id, question: question.contentHash, correct: grade.correct, extracted: grade.extracted)
        })
    }

    /// The share of questions whose `n` samples hold both right and wrong
    /// answers: how much room EAST has to work with.
    public static func mixedShare(
        _ policy: Policy, questions: [Question], settings: SamplingSettings, seed: UInt64, sampler: Sampler
    ) -> Double {
        let samples = SamplingStage.sample(policy, questions: questions, settings: settings, runSeed: seed, sampler: sampler)
        let mixed = zip(questions, samples).filter { q, s in AnswerClustering.statistics(responses: s.responses, gold: q.gold).kept }.count
        return questions.isEmpty ? 0 : Double(mixed) / Double(questions.count)
    }
}
