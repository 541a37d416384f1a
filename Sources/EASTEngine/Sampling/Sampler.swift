import EASTCore
import Foundation

/// Batched generation with a KV cache.
///
/// The n samples of one prompt share one prefill: the prompt runs once on
/// row 0, its keys and values are copied to rows 1..<n, and then all n rows
/// decode together, one token each per step, so every matmul has M = n.
/// Buffers are allocated once per sampler; the decode loop allocates nothing
/// per token. Not thread-safe: one sampler per thread. OpenBLAS threads are
/// process-wide: set them with `BLASThreads.set(_:)`.
public final class Sampler {
    public let model: Transformer
    public let maxRows: Int
    /// Prompt plus new tokens must fit in this many positions.
    public let maxSequenceLength: Int
    private let cache: KVCache
    private let buffers: InferenceBuffers
    private var chooser: TokenChooser
    private var stepTokens: [Int32]

    /// The KV cache holds maxRows x maxSequenceLength positions per layer, so
    /// size both to the work (SmolLM2-135M: 16 rows x 512 positions = 360 MB).
    public init(model: Transformer, maxRows: Int = 16, maxSequenceLength: Int = 512) {
        self.model = model
        self.maxRows = maxRows
        let length = min(maxSequenceLength, model.config.maxSeqLen)
        self.maxSequenceLength = length
        cache = KVCache(config: model.config, rows: maxRows, capacity: length)
        buffers = InferenceBuffers(config: model.config, maxPositions: max(maxRows, length), maxRows: maxRows,
                                   cacheCapacity: length)
        chooser = TokenChooser(vocabSize: model.config.vocabSize)
        stepTokens = [Int32](repeating: 0, count: max(maxRows, length))
    }

    /// n samples continuing `prompt` (which must not be empty).
    public func generate(prompt: [Int], n: Int, parameters s: SamplingParameters) -> [Sample] {
        precondition(!prompt.isEmpty && n >= 1 && n <= maxRows, "generate: empty prompt or n outside 1...\(maxRows)")
        precondition(prompt.count < maxSequenceLength, "generate: prompt of \(prompt.count) tokens does not fit")
        let V = model.config.vocabSize
        let maxNew = min(s.maxNewTokens, maxSequenceLength - prompt.count)
        prefill(prompt)
        cache.broadcastFirstRow(to: n)
        for r in 1..<max(n, 1) {  // every row starts from row 0's next-token logits
            buffers.logits.at(r * V).update(from: buffers.logits.pointer, count: V)
        }

        var samples = (0..<n).map { _ in Sample(tokens: [], logProbs: [], stopped: false) }
        for r in 0..<n {
            samples[r].tokens.reserveCapacity(maxNew)
            samples[r].logProbs.reserveCapacity(maxNew)
        }
        var rngs = (0..<n).map { SeededGenerator(seed: s.seed, stream: UInt64($0)) }
        var finished = [Bool](repeating: false, count: n)
        var active = n
        for step in 0..<maxNew {
            for r in 0..<n where !finished[r] {
                let (token, logProb) = chooser.choose(buffers.logits.at(r * V), V: V, parameters: s, rng: &rngs[r])
                samples[r].tokens.append(token)
                samples[r].logProbs.append(logProb)
                stepTokens[r] = Int32(token)
                if s.stopTokens.contains(token) {
                    samples[r].stopped = true
                    finished[r] = true
                    active -= 1
                }
            }
            if active == 0 || step == maxNew - 1 { break }
            // finished rows still ride along (their last token); their output is ignored
            stepTokens.withUnsafeBufferPointer {
                model.forwardCached(tokens: $0.baseAddress!, rows: n, T: 1, cache: cache, buffers: buffers)
            }
        }
        return samples
    }

    /// log-softmax of the next-token logits after `prompt` (vocab entries).
    public func nextTokenLogProbs(prompt: [Int]) -> [Float] {
        prefill(prompt)
        var logits = buffers.logits.slice(0, model.config.vocabSize)
        let maxLogit = logits.max()!
        let logZ = maxLogit + log(logits.reduce(Float(0)) { $0 + exp($1 - maxLogit) })
        for i in logits.indices { logits[i] -= logZ }
        return logits
    }

    private func prefill(_ prompt: [Int]) {
        precondition(prompt.count <= maxSequenceLength)
        cache.reset()
        for (i, t) in prompt.enumerated() { stepTokens[i] = Int32(t) }
        stepTokens.withUnsafeBufferPointer {
            model.forwardCached(tokens: $0.baseAddress!, rows: 1, T: prompt.count, cache: cache, buffers: buffers)
        }
    }
}
