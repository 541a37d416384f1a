import EASTCore
import Foundation

/// Batched generation with a KV cache, with continuous batching.
///
/// The n samples of one prompt share one prefill: the prompt runs once, the
/// n rows of the cache share its keys and values, and then all rows
/// decode together, one token each per step, so every matmul has M = the
/// number of unfinished samples. Several requests (prompts) decode together
/// the same way; with OpenBLAS, M = 64 runs about twice as many FLOP/s as
/// M = 16.
///
/// Requests may also join while others decode (`admit`, then `step`): a
/// request takes a block of n free rows, and its rows are free again when
/// all n of its samples are done (its first row holds the prompt the others
/// share, so a block is freed whole). A sample's numbers depend neither on
/// its companions nor on when it joined: each row has its own random stream
/// and every product is row by row (see `forwardCached`).
///
/// Buffers are allocated once per sampler; the decode loop allocates nothing
/// per token. Not thread-safe: one sampler per thread. The engine's threads
/// are process-wide: set them with `BLASThreads.set(_:)`.
public final class Sampler {
    public let model: Transformer
    /// Most samples (over all requests in flight) decoded together.
    public let maxRows: Int
    /// Prompt plus new tokens must fit in this many positions.
    public let maxSequenceLength: Int
    private let cache: KVCache
    private let buffers: InferenceBuffers
    /// The model's matrices packed for prefill and decoding.
    private let packed: PackedWeights
    /// The model's `parameterVersion` that `packed` holds; -1 before the first pack.
    private var packedVersion = -1
    /// One per thread that may pick tokens (each has its own scratch).
    private var choosers: [TokenChooser]
    /// The token and log-prob picked for each input row of the last step.
    private var chosen: [(token: Int, logProb: Float)]
    /// Input tokens of one cached forward: a prompt, or one token per unfinished row.
    private var stepTokens: [Int32]

    /// A request in flight: its tag, its block of rows and its samples so far.
    private struct InFlight {
        let tag: Int
        let parameters: SamplingParameters
        let rows: Range<Int>
        let maxNew: Int
        var samples: [Sample]
        var unfinished: Int
    }
    /// Keyed by the first row of the request's block.
    private var inFlight: [Int: InFlight] = [:]
    /// Per cache row: its request (the first row of its block, nil when free),
    /// its sample index, its last token, whether it is done, its random stream.
    private var rowRequest: [Int?]
    private var rowSample: [Int]
    private var rowLastToken: [Int32]
    private var rowFinished: [Bool]
    private var rowRNG: [SeededGenerator]
    private var rowParameters: [SamplingParameters]

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
        rowRequest = [Int?](repeating: nil, count: maxRows)
        rowSample = [Int](repeating: 0, count: maxRows)
        rowLastToken = [Int32](repeating: 0, count: maxRows)
        rowFinished = [Bool](repeating: true, count: maxRows)
        rowRNG = [SeededGenerator](repeating: SeededGenerator(seed: 0), count: maxRows)
        rowParameters = [SamplingParameters](repeating: SamplingParameters(), count: maxRows)
    }

    /// n samples continuing `prompt` (which must not be empty).
    public func generate(prompt: [Int], n: Int, parameters: SamplingParameters) -> [Sample] {
        generate([GenerationRequest(prompt: prompt, n: n, parameters: parameters)])[0]
    }

    /// The samples of several requests, decoded together; result j holds
    /// request j's samples. Sample s of a request draws from stream s of its
    /// seed, so a request's samples do not depend on which others share the call.
    public func generate(_ requests: [GenerationRequest]) -> [[Sample]] {
        precondition(isIdle, "generate: requests admitted by `admit` are still in flight")
        let totalRows = requests.reduce(0) { $0 + $1.n }
        precondition(totalRows <= maxRows, "generate: \(totalRows) samples, the sampler holds \(maxRows)")
        for (j, request) in requests.enumerated() {
            let admitted = admit(request, tag: j)
            precondition(admitted)
        }
        var results = [[Sample]](repeating: [], count: requests.count)
        while !isIdle {
            for (tag, samples) in step() { results[tag] = samples }
        }
        return results
    }

    /// No request in flight.
    public var isIdle: Bool { inFlight.isEmpty }

    /// Rows not held by a request in flight.
    public var freeRows: Int { rowRequest.lazy.filter { $0 == nil }.count }

    /// Whether a request of `n` samples would be admitted now.
    public func hasRoom(for n: Int) -> Bool { freeBlock(n) != nil }

    /// The first of `n` consecutive free rows.
    private func freeBlock(_ n: Int) -> Int? {
        var run = 0
        for r in 0..<maxRows {
            run = rowRequest[r] == nil ? run + 1 : 0
            if run == n { return r - n + 1 }
        }
        return nil
    }

    /// Starts `request` beside the requests in flight when `n` rows are free:
    /// prefills its prompt and picks each sample's first token; `step` then
    /// decodes it with the others. Returns false (and does nothing) when the
    /// rows are not free. A prompt that leaves no room for a new token in the
    /// window is not decoded: its samples come back empty at the next step.
    public func admit(_ request: GenerationRequest, tag: Int) -> Bool {
        precondition(!request.prompt.isEmpty && request.n >= 1, "admit: empty prompt or n < 1")
        precondition(request.n <= maxRows, "admit: \(request.n) samples, the sampler holds \(maxRows)")
        guard let first = freeBlock(request.n) else { return false }
        let rows = first..<(first + request.n)
        let limit = max(0, min(request.parameters.maxNewTokens, maxSequenceLength - request.prompt.count))
        var samples: [Sample] = []
        for s in 0..<request.n {
            var sample = Sample(tokens: [], logProbs: [], stopped: false)
            sample.tokens.reserveCapacity(max(0, limit))
            sample.logProbs.reserveCapacity(max(0, limit))
            samples.append(sample)
            let r = first + s
            rowRequest[r] = first
            rowSample[r] = s
            rowFinished[r] = limit <= 0
            rowRNG[r] = SeededGenerator(seed: request.parameters.seed, stream: UInt64(s))
            rowParameters[r] = request.parameters
        }
        inFlight[first] = InFlight(tag: tag, parameters: request.parameters, rows: rows, maxNew: limit, samples: samples,
                                   unfinished: limit <= 0 ? 0 : request.n)
        cache.reset(rows: rows)
        guard limit > 0 else { return true }
        // prefill the prompt once, share it with the samples' rows, pick their first tokens
        prefill(request.prompt, row: first, packed: currentPacked())
        cache.share(first, with: rows)
        let V = model.config.vocabSize
        for r in rows {
            let (token, logProb) = choosers[0].choose(buffers.logits.pointer, V: V, parameters: request.parameters, rng: &rowRNG[r])
            record(row: r, token: token, logProb: logProb)
        }
        return true
    }

    /// One decode step: a token for every unfinished row of every request in
    /// flight. Returns the requests that are done (their tags and samples, in
    /// tag order); their rows are free for `admit` again.
    public func step() -> [(tag: Int, samples: [Sample])] {
        var m = 0
        for r in 0..<maxRows where rowRequest[r] != nil && !rowFinished[r] {
            buffers.cacheRows[m] = r
            stepTokens[m] = rowLastToken[r]
            m += 1
        }
        if m > 0 {
            let packed = currentPacked()
            stepTokens.withUnsafeBufferPointer {
                model.forwardCached(tokens: $0.baseAddress!, rows: m, T: 1, cache: cache, buffers: buffers, packed: packed)
            }
            chooseTokens(rows: m)
            for i in 0..<m { record(row: buffers.cacheRows[i], token: chosen[i].token, logProb: chosen[i].logProb) }
        }
        var done: [(tag: Int, samples: [Sample])] = []
        for (first, request) in inFlight where request.unfinished == 0 {
            done.append((request.tag, request.samples))
            for r in request.rows { rowRequest[r] = nil; rowFinished[r] = true }
            inFlight[first] = nil
        }
        return done.sorted { $0.tag < $1.tag }
    }

    /// Drops every request in flight and frees their rows.
    public func cancelAll() {
        inFlight.removeAll()
        for r in 0..<maxRows { rowRequest[r] = nil; rowFinished[r] = true }
    }

    /// Records row r's next token.
    private func record(row r: Int, token: Int, logProb: Float) {
        let first = rowRequest[r]!, s = rowSample[r]
        inFlight[first]!.samples[s].tokens.append(token)
        inFlight[first]!.samples[s].logProbs.append(logProb)
        rowLastToken[r] = Int32(token)
        if rowParameters[r].stopTokens.contains(token) {
            inFlight[first]!.samples[s].stopped = true
            rowFinished[r] = true
        } else if inFlight[first]!.samples[s].tokens.count >= inFlight[first]!.maxNew {
            rowFinished[r] = true
        }
        if rowFinished[r] { inFlight[first]!.unfinished -= 1 }
    }

    /// Picks the next token of each of the `rows` input rows of the last
    /// decode step into `chosen`. Rows are independent (each has its own
    /// random stream), so with several BLAS threads they are shared out, one
    /// chooser (and its scratch) per thread; the result does not depend on
    /// how many threads there are.
    private func chooseTokens(rows m: Int) {
        let V = model.config.vocabSize
        let rowParameters = self.rowParameters, cacheRows = buffers.cacheRows  // shared, not copied: no allocation per step
        nonisolated(unsafe) let logits = UnsafePointer(buffers.logits.pointer)
        choosers.withUnsafeMutableBufferPointer { choosers in
            rowRNG.withUnsafeMutableBufferPointer { rngs in
                chosen.withUnsafeMutableBufferPointer { chosen in
                    nonisolated(unsafe) let (choosers, rngs, chosen) = (choosers, rngs, chosen)
                    BLASThreads.shareOut(m, limit: choosers.count) { i, t in
                        let row = cacheRows[i]
                        chosen[i] = choosers[t].choose(logits + i * V, V: V, parameters: rowParameters[row], rng: &rngs[row])
                    }
                }
            }
        }
    }

    /// log-softmax of the next-token logits after `prompt` (vocab entries).
    public func nextTokenLogProbs(prompt: [Int]) -> [Float] {
        precondition(!prompt.isEmpty && prompt.count <= maxSequenceLength)
        precondition(isIdle, "nextTokenLogProbs: requests are in flight")
        cache.reset()
        prefill(prompt, row: 0, packed: currentPacked())
        var logits = buffers.logits.slice(0, model.config.vocabSize)
        let maxLogit = logits.max()!
        let logZ = maxLogit + log(logits.reduce(Float(0)) { $0 + exp($1 - maxLogit) })
        for i in logits.indices { logits[i] -= logZ }
        return logits
    }

    /// Runs `prompt` into cache row `row`; its next-token logits land in buffers.logits row 0.
    private func prefill(_ prompt: [Int], row: Int, packed: PackedWeights) {
        for (i, t) in prompt.enumerated() { stepTokens[i] = Int32(t) }
        buffers.cacheRows[0] = row
        stepTokens.withUnsafeBufferPointer {
            model.forwardCached(tokens: $0.baseAddress!, rows: 1, T: prompt.count, cache: cache, buffers: buffers, packed: packed)
        }
    }

    /// The packed copy of the model's matrices, packed anew first when the
    /// model was trained since the last pack (or on first use).
    private func currentPacked() -> PackedWeights {
        if packedVersion != model.parameterVersion {
            packed.pack(from: model)
            packedVersion = model.parameterVersion
        }
        return packed
    }
}
