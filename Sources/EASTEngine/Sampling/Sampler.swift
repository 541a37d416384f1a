import EASTCore
import Foundation

/// Batched generation with a KV cache.
///
/// The n samples of one prompt share one prefill: the prompt runs once, the
/// n rows of the cache share its keys and values, and then all rows
/// decode together, one token each per step, so every matmul has M = the
/// number of unfinished samples. Several requests (prompts) can be decoded
/// together the same way; with OpenBLAS, M = 64 runs about twice as many
/// FLOP/s as M = 16.
///
/// Buffers are allocated once per sampler; the decode loop allocates nothing
/// per token. Not thread-safe: one sampler per thread. OpenBLAS threads are
/// process-wide: set them with `BLASThreads.set(_:)`.
public final class Sampler {
    public let model: Transformer
    /// Most samples (over all requests of one call) decoded together.
    public let maxRows: Int
    /// Prompt plus new tokens must fit in this many positions.
    public let maxSequenceLength: Int
    private let cache: KVCache
    private let buffers: InferenceBuffers
    /// The model's matrices packed for prefill and decoding; nil without AVX-512.
    private let packed: PackedWeights?
    /// The model's `parameterVersion` that `packed` holds; -1 before the first pack.
    private var packedVersion = -1
    /// One per thread that may pick tokens (each has its own scratch).
    private var choosers: [TokenChooser]
    /// The token and log-prob picked for each input row of the last step.
    private var chosen: [(token: Int, logProb: Float)]
    /// Input tokens of one cached forward: a prompt, or one token per unfinished row.
    private var stepTokens: [Int32]
    /// Per cache row: its request, its sample index, its last token, whether it is done.
    private var rowRequest: [Int]
    private var rowSample: [Int]
    private var rowLastToken: [Int32]
    private var rowFinished: [Bool]

    /// The KV cache holds maxRows x maxSequenceLength positions per layer, so
    /// size both to the work (SmolLM2-135M: 16 rows x 512 positions = 360 MB).
    public init(model: Transformer, maxRows: Int = 16, maxSequenceLength: Int = 512) {
        self.model = model
        self.maxRows = maxRows
        let length = min(maxSequenceLength, model.config.maxSeqLen)
        self.maxSequenceLength = length
        cache = KVCache(config: model.config, rows: maxRows, capacity: length)
        buffers = InferenceBuffers(config: model.config, maxPositions: max(maxRows, length), maxRows: maxRows,
                                   cacheCapacity: cache.capacity)
        choosers = (0..<InferenceBuffers.maxThreads).map { _ in TokenChooser(vocabSize: model.config.vocabSize) }
        chosen = Array(repeating: (0, 0), count: maxRows)
        packed = PackedWeights(layout: model.layout, config: model.config)
        stepTokens = [Int32](repeating: 0, count: max(maxRows, length))
        rowRequest = [Int](repeating: 0, count: maxRows)
        rowSample = rowRequest
        rowLastToken = [Int32](repeating: 0, count: maxRows)
        rowFinished = [Bool](repeating: true, count: maxRows)
    }

    /// n samples continuing `prompt` (which must not be empty).
    public func generate(prompt: [Int], n: Int, parameters: SamplingParameters) -> [Sample] {
        generate([GenerationRequest(prompt: prompt, n: n, parameters: parameters)])[0]
    }

    /// The samples of several requests, decoded together; result j holds
    /// request j's samples. Sample s of a request draws from stream s of its
    /// seed, so a request's samples do not depend on which others share the call
    /// (up to float rounding of different matmul sizes).
    public func generate(_ requests: [GenerationRequest]) -> [[Sample]] {
        let totalRows = requests.reduce(0) { $0 + $1.n }
        precondition(totalRows <= maxRows, "generate: \(totalRows) samples, the sampler holds \(maxRows)")
        let V = model.config.vocabSize
        cache.reset()
        let packed = currentPacked()

        // rows first[j] ..< first[j] + n_j belong to request j
        var results: [[Sample]] = []
        var maxNew: [Int] = []
        var rngs: [SeededGenerator] = []
        var row = 0
        for (j, request) in requests.enumerated() {
            precondition(!request.prompt.isEmpty && request.n >= 1, "generate: empty prompt or n < 1")
            precondition(request.prompt.count < maxSequenceLength,
                         "generate: prompt of \(request.prompt.count) tokens does not fit \(maxSequenceLength)")
            let limit = min(request.parameters.maxNewTokens, maxSequenceLength - request.prompt.count)
            maxNew.append(limit)
            var samples: [Sample] = []
            for s in 0..<request.n {
                var sample = Sample(tokens: [], logProbs: [], stopped: false)
                sample.tokens.reserveCapacity(limit)
                sample.logProbs.reserveCapacity(limit)
                samples.append(sample)
                rowRequest[row] = j
                rowSample[row] = s
                rowFinished[row] = limit <= 0
                rngs.append(SeededGenerator(seed: request.parameters.seed, stream: UInt64(s)))
                row += 1
            }
            results.append(samples)
        }

        // Records row r's next token.
        func record(row r: Int, token: Int, logProb: Float) {
            let j = rowRequest[r], s = rowSample[r]
            let parameters = requests[j].parameters
            results[j][s].tokens.append(token)
            results[j][s].logProbs.append(logProb)
            rowLastToken[r] = Int32(token)
            if parameters.stopTokens.contains(token) {
                results[j][s].stopped = true
                rowFinished[r] = true
            } else if results[j][s].tokens.count >= maxNew[j] {
                rowFinished[r] = true
            }
        }

        // prefill each prompt once, copy it to its samples' rows, pick their first tokens
        var first = 0
        for (j, request) in requests.enumerated() {
            defer { first += request.n }
            guard maxNew[j] > 0 else { continue }
            prefill(request.prompt, row: first, packed: packed)
            cache.share(first, with: first..<(first + request.n))
            for r in first..<(first + request.n) {
                let (token, logProb) = choosers[0].choose(buffers.logits.pointer, V: V, parameters: request.parameters, rng: &rngs[r])
                record(row: r, token: token, logProb: logProb)
            }
        }
        // decode: one token for every unfinished row per step
        while true {
            var m = 0
            for r in 0..<totalRows where !rowFinished[r] {
                buffers.cacheRows[m] = r
                stepTokens[m] = rowLastToken[r]
                m += 1
            }
            if m == 0 { break }
            stepTokens.withUnsafeBufferPointer {
                model.forwardCached(tokens: $0.baseAddress!, rows: m, T: 1, cache: cache, buffers: buffers, packed: packed)
            }
            chooseTokens(rows: m, requests: requests, rngs: &rngs)
            for i in 0..<m { record(row: buffers.cacheRows[i], token: chosen[i].token, logProb: chosen[i].logProb) }
        }
        return results
    }

    /// Picks the next token of each of the `rows` input rows of the last
    /// decode step into `chosen`. Rows are independent (each has its own
    /// random stream), so with several BLAS threads they are shared out, one
    /// chooser (and its scratch) per thread; the result does not depend on
    /// how many threads there are.
    private func chooseTokens(rows m: Int, requests: [GenerationRequest], rngs: inout [SeededGenerator]) {
        let V = model.config.vocabSize
        let rowRequest = self.rowRequest, cacheRows = buffers.cacheRows  // shared, not copied: no allocation per step
        nonisolated(unsafe) let logits = UnsafePointer(buffers.logits.pointer)
        choosers.withUnsafeMutableBufferPointer { choosers in
            rngs.withUnsafeMutableBufferPointer { rngs in
                chosen.withUnsafeMutableBufferPointer { chosen in
                    nonisolated(unsafe) let (choosers, rngs, chosen) = (choosers, rngs, chosen)
                    BLASThreads.shareOut(m, limit: choosers.count) { i, t in
                        let row = cacheRows[i]
                        chosen[i] = choosers[t].choose(logits + i * V, V: V, parameters: requests[rowRequest[row]].parameters,
                                                       rng: &rngs[row])
                    }
                }
            }
        }
    }

    /// log-softmax of the next-token logits after `prompt` (vocab entries).
    public func nextTokenLogProbs(prompt: [Int]) -> [Float] {
        precondition(!prompt.isEmpty && prompt.count <= maxSequenceLength)
        cache.reset()
        prefill(prompt, row: 0, packed: currentPacked())
        var logits = buffers.logits.slice(0, model.config.vocabSize)
        let maxLogit = logits.max()!
        let logZ = maxLogit + log(logits.reduce(Float(0)) { $0 + exp($1 - maxLogit) })
        for i in logits.indices { logits[i] -= logZ }
        return logits
    }

    /// Runs `prompt` into cache row `row`; its next-token logits land in buffers.logits row 0.
    private func prefill(_ prompt: [Int], row: Int, packed: PackedWeights?) {
        for (i, t) in prompt.enumerated() { stepTokens[i] = Int32(t) }
        buffers.cacheRows[0] = row
        stepTokens.withUnsafeBufferPointer {
            model.forwardCached(tokens: $0.baseAddress!, rows: 1, T: prompt.count, cache: cache, buffers: buffers, packed: packed)
        }
    }

    /// The packed copy of the model's matrices, packed anew first when the
    /// model was trained since the last pack (or on first use).
    private func currentPacked() -> PackedWeights? {
        if let packed, packedVersion != model.parameterVersion {
            packed.pack(from: model)
            packedVersion = model.parameterVersion
        }
        return packed
    }
}
