import EASTCore
import EASTEngine

/// The n responses of one question, as a sampler produces them.
public struct QuestionSamples: Codable, Equatable, Sendable {
    public var questionID: String
    public var responses: [String]
    /// Mean per-token log-prob of each response (a cheap confidence signal
    /// for reports; the LW baselines recompute theirs during training).
    public var meanLogProbs: [Double]
    /// New tokens of each response (for throughput figures).
    public var tokenCounts: [Int]

    public init(questionID: String, responses: [String], meanLogProbs: [Double], tokenCounts: [Int]) {
        self.questionID = questionID
        self.responses = responses
        self.meanLogProbs = meanLogProbs
        self.tokenCounts = tokenCounts
    }

    enum CodingKeys: String, CodingKey {
        case questionID = "question_id", responses, meanLogProbs = "mean_log_probs", tokenCounts = "token_counts"
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

    /// Samples several questions through one continuous batch: each
    /// question joins when its n rows are free. The samples are the same
    /// bits as each question sampled alone. `known` holds the questions'
    /// samples found elsewhere (a `SampleStore`); only the others are drawn.
    public static func sample(
        _ policy: Policy, questions: [Question], settings: SamplingSettings, runSeed: UInt64, sampler: Sampler,
        known: [QuestionSamples?]? = nil
    ) -> [QuestionSamples] {
        let batch = SamplingBatch(policy: policy, sampler: sampler)
        var results = known ?? [QuestionSamples?](repeating: nil, count: questions.count)
        precondition(results.count == questions.count, "one known entry per question")
        var waiting = questions.indices.filter { results[$0] == nil }[...]
        while !waiting.isEmpty || !batch.isIdle {
            while let next = waiting.first, batch.offer(questions[next], tag: next, settings: settings, runSeed: runSeed) { waiting.removeFirst() }
            for (tag, samples) in batch.step() { results[tag] = samples }
        }
        return results.map { $0! }
    }

    /// `sample`, through `store`: what it holds for this policy, these
    /// questions, seeds and settings is taken from there; what is drawn is put there.
    public static func sample(
        _ policy: Policy, questions: [Question], settings: SamplingSettings, runSeed: UInt64, sampler: Sampler, store: SampleStore?
    ) throws -> [QuestionSamples] {
        guard let store else { return sample(policy, questions: questions, settings: settings, runSeed: runSeed, sampler: sampler) }
        let fingerprint = policy.fingerprint()
        let keys = questions.map { key($0, policy: fingerprint, version: policy.version, settings: settings, runSeed: runSeed) }
        let known = try store.load(keys)
        let samples = sample(policy, questions: questions, settings: settings, runSeed: runSeed, sampler: sampler, known: known)
        try store.save(questions.indices.filter { known[$0] == nil }.map { (keys[$0], samples[$0]) })
        return samples
    }

    /// The content address of a question's samples (`SampleKey.sampled`).
    public static func key(_ question: Question, policy fingerprint: String, version: Int, settings: SamplingSettings, runSeed: UInt64) -> String {
        SampleKey.sampled(policy: fingerprint, question: question, seed: seed(run: runSeed, version: version, questionID: question.id),
                          settings: settings)
    }

    /// The generation request of one question.
    static func request(_ policy: Policy, question q: Question, settings: SamplingSettings, runSeed: UInt64) -> GenerationRequest {
        GenerationRequest(
            prompt: policy.format.prompt(q.text, tokenizer: policy.tokenizer), n: settings.n,
            parameters: SamplingParameters(
                temperature: settings.temperature, topK: 0, topP: settings.topP,
                maxNewTokens: settings.maxNewTokens, stopTokens: policy.format.stopTokens(policy.tokenizer),
                seed: seed(run: runSeed, version: policy.version, questionID: q.id)))
    }
}

/// Questions in, their samples out, through one policy's sampler with
/// continuous batching: a question joins as soon as n rows are free, and a
/// question's samples leave as soon as its last sample is done. The
/// in-process run and the cluster's samplers both sample through it.
public final class SamplingBatch {
    public let policy: Policy
    public let sampler: Sampler
    private var questions: [Int: String] = [:]

    public init(policy: Policy, sampler: Sampler) {
        precondition(sampler.model === policy.model, "the sampler must decode the policy's model")
        (self.policy, self.sampler) = (policy, sampler)
    }

    /// Starts sampling `question` beside the others when there is room; false when there is not.
    public func offer(_ question: Question, tag: Int, settings: SamplingSettings, runSeed: UInt64) -> Bool {
        // Callers offer again after every step while the batch is full: check before tokenizing the prompt.
        guard sampler.hasRoom(for: settings.n) else { return false }
        let request = SamplingStage.request(policy, question: question, settings: settings, runSeed: runSeed)
        guard sampler.admit(request, tag: tag) else { return false }
        questions[tag] = question.id
        return true
    }

    /// One decode step; the questions that are done, by tag.
    public func step() -> [(tag: Int, samples: QuestionSamples)] {
        sampler.step().map { tag, samples in
            let id = questions.removeValue(forKey: tag)!
            return (tag, QuestionSamples(
                questionID: id,
                responses: samples.map { policy.format.response($0.tokens, tokenizer: policy.tokenizer) },
                meanLogProbs: samples.map { s in s.logProbs.isEmpty ? 0 : Double(s.logProbs.reduce(0, +)) / Double(s.logProbs.count) },
                tokenCounts: samples.map(\.tokens.count)))
        }
    }

    public var isIdle: Bool { sampler.isIdle }

    /// Drops every question in flight (after a failure; their jobs go back to the queue).
    public func cancel() {
        sampler.cancelAll()
        questions.removeAll()
    }
}
