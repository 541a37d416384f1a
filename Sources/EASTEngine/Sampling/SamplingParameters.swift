/// How to pick each next token of a request.
public struct SamplingParameters: Codable, Sendable, Equatable {
    /// 0 means greedy (argmax), for evaluation.
    public var temperature: Float
    /// Keep only the k most likely tokens; 0 keeps all.
    public var topK: Int
    /// Keep the smallest set of most likely tokens whose probability reaches topP; 1 keeps all.
    public var topP: Float
    public var maxNewTokens: Int
    /// Generation of a sample stops after it emits one of these (the stop token is kept).
    public var stopTokens: [Int]
    /// Same seed, same prompt, same model: same tokens. Sample i of a request
    /// draws from stream i of this seed.
    public var seed: UInt64

    public init(temperature: Float = 1, topK: Int = 0, topP: Float = 1, maxNewTokens: Int = 64,
                stopTokens: [Int] = [], seed: UInt64 = 0) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.maxNewTokens = maxNewTokens
        self.stopTokens = stopTokens
        self.seed = seed
    }

    public static func greedy(maxNewTokens: Int, stopTokens: [Int] = []) -> SamplingParameters {
        SamplingParameters(temperature: 0, maxNewTokens: maxNewTokens, stopTokens: stopTokens)
    }
}

/// A prompt and how many samples of it to draw, with what settings.
public struct GenerationRequest: Sendable {
    /// Token ids, not empty (it holds at least BOS).
    public var prompt: [Int]
    public var n: Int
    public var parameters: SamplingParameters

    public init(prompt: [Int], n: Int = 1, parameters: SamplingParameters) {
        self.prompt = prompt
        self.n = n
        self.parameters = parameters
    }
}

/// One generated continuation.
public struct Sample: Sendable, Equatable {
    /// The new tokens (not the prompt), including a final stop token if one was hit.
    public var tokens: [Int]
    /// log p(token) of each new token under the model's own distribution at
    /// temperature 1, with no top-k/top-p truncation: the number the losses
    /// and entropy estimates need, whatever the sampling settings were.
    public var logProbs: [Float]
    /// True when the sample ended on a stop token (false: ran out of tokens).
    public var stopped: Bool
}
