import EASTCore
import EASTEngine

/// The n responses of one question, as a sampler produces them.
public struct QuestionSamples: Codable, Equatable, Sendable {
    public var questionID: String
    public var responses: [String]
    /// Mean per-token log-prob of each response (a cheap confidence signal
    /// for reports; the LW baselines recompute theirs during training).
    public var meanLogProbs: [Double]

    public init(questionID: String, responses: [String], meanLogProbs: [Double]) {
        self.questionID = questionID
        self.responses = responses
        self.meanLogProbs = meanLogProbs
    }
}

/// Sampling settings of a run.
public struct SamplingSettings: Codable, Equatable, Sendable {
    public var n: Int
    public var temperature: Float
    public var topP: Float
    public var maxNewTokens: Int

    public init(n: Int, temperature: Float, topP: Float = 1, maxNewTokens: Int) {
        self.n = n
        self.temperature = temperature
        self.topP = topP
        self.maxNewTokens = maxNewTokens
    }
}

/// Stage 1 of an iteration: sample `n` solutions per question.
///
/// The seed of a question's samples comes from the run seed, the policy
/// version and the question id, so any sampler replica given the same job
/// produces the same responses (a redelivered job changes nothing).
public enum SamplingStage {
    public static func seed(run: UInt64, version: Int, questionID: String) -> UInt64 {
        run ^ (UInt64(version) &* 0x9E37_79B9_7F4A_7C15) ^ ExampleSelection.stableHash(questionID)
    }

    public static func sample(
        _ policy: Policy, question: Question, settings: SamplingSettings, runSeed: UInt64, sampler: Sampler
    ) -> QuestionSamples {
        sample(policy, questions: [question], settings: settings, runSeed: runSeed, sampler: sampler)[0]
    }

    /// Samples several questions in one decode batch (rows = questions x n).
    public static func sample(
        _ policy: Policy, questions: [Question], settings: SamplingSettings, runSeed: UInt64, sampler: Sampler
    ) -> [QuestionSamples] {
        let requests = questions.map { q in
            GenerationRequest(
                prompt: policy.format.prompt(q.text, tokenizer: policy.tokenizer), n: settings.n,
                parameters: SamplingParameters(
                    temperature: settings.temperature, topK: 0, topP: settings.topP,
                    maxNewTokens: settings.maxNewTokens, stopTokens: policy.format.stopTokens(policy.tokenizer),
                    seed: seed(run: runSeed, version: policy.version, questionID: q.id)))
        }
        let results = sampler.generate(requests)
        return zip(questions, results).map { q, samples in
            QuestionSamples(
                questionID: q.id,
                responses: samples.map { policy.format.response($0.tokens, tokenizer: policy.tokenizer) },
                meanLogProbs: samples.map { s in s.logProbs.isEmpty ? 0 : Double(s.logProbs.reduce(0, +)) / Double(s.logProbs.count) })
        }
    }
}
