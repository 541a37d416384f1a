import EASTCore
import EASTEngine

/// Greedy-decoding accuracy on held-out questions, the paper's metric.
public enum EvaluationStage {
    public struct Result: Equatable, Sendable {
        public var correct: Int
        public var total: Int
        public var accuracy: Double { total == 0 ? 0 : Double(correct) / Double(total) }
    }

    /// Greedy answers, `batch` questions decoded together.
    public static func evaluate(_ policy: Policy, questions: [Question], maxNewTokens: Int, sampler: Sampler, batch: Int = 16) -> Result {
        var correct = 0
        var start = 0
        while start < questions.count {
            let chunk = Array(questions[start..<min(start + batch, questions.count)])
            let requests = chunk.map {
                GenerationRequest(prompt: policy.format.prompt($0.text, tokenizer: policy.tokenizer), n: 1,
                                  parameters: .greedy(maxNewTokens: maxNewTokens, stopTokens: policy.format.stopTokens(policy.tokenizer)))
            }
            for (question, samples) in zip(chunk, sampler.generate(requests)) {
                let response = policy.format.response(samples[0].tokens, tokenizer: policy.tokenizer)
                if let answer = AnswerExtractor.extract(from: response), AnswerEquivalence.equivalent(answer, question.gold) {
                    correct += 1
                }
            }
            start += batch
        }
        return Result(correct: correct, total: questions.count)
    }

    /// The share of questions whose `n` samples hold both right and wrong
    /// answers: how much room EAST has to work with.
    public static func mixedShare(
        _ policy: Policy, questions: [Question], settings: SamplingSettings, seed: UInt64, sampler: Sampler
    ) -> Double {
        var mixed = 0
        var start = 0
        let perBatch = max(1, sampler.maxRows / settings.n)
        while start < questions.count {
            let chunk = Array(questions[start..<min(start + perBatch, questions.count)])
            for (q, s) in zip(chunk, SamplingStage.sample(policy, questions: chunk, settings: settings, runSeed: seed, sampler: sampler)) {
                if AnswerClustering.statistics(responses: s.responses, gold: q.gold).kept { mixed += 1 }
            }
            start += perBatch
        }
        return questions.isEmpty ? 0 : Double(mixed) / Double(questions.count)
    }
}
