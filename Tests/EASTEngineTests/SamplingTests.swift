import EASTEngine
import Foundation
import Testing

@Suite struct SamplingTests {
    /// A tiny model with large enough weights that its distributions are far from uniform;
    /// with `qwen2Llama3`, also q/k/v biases, Llama 3's RoPE scaling and head_dim 6 (not 16 / 4).
    static func model(qwen2Llama3: Bool = false) throws -> Transformer {
        let config = ModelConfig(vocabSize: 13, dim: 16, layers: 2, heads: 4, kvHeads: 2, hiddenDim: 24,
                                 ropeTheta: 10_000, tiedEmbeddings: false, maxSeqLen: 32, attentionBias: qwen2Llama3,
                                 ropeScaling: qwen2Llama3 ? RoPEScaling(factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 32) : nil,
                                 headDim: qwen2Llama3 ? 6 : nil)
        let m = try Transformer(config: config, seed: 5)
        let noise = randomFloats(m.parameterCount, seed: 9, scale: 0.4)
        for e in m.layout.entries where e.isMatrix || e.isBias {
            for i in 0..<e.count { m.parameters[e.offset + i] = noise[e.offset + i] }
        }
        return m
    }

    static func logSoftmax(_ row: ArraySlice<Float>) -> [Double] {
        let m = Double(row.max()!)
        let z = m + log(row.reduce(0.0) { $0 + exp(Double($1) - m) })
        return row.map { Double($0) - z }
    }

    @Test(arguments: [false, true]) func greedyCachedDecodeMatchesFullForward(qwen2Llama3: Bool) throws {
        let model = try Self.model(qwen2Llama3: qwen2Llama3)
        let V = model.config.vocabSize
        let prompt = [1, 4, 7, 2]
        let sample = Sampler(model: model, maxRows: 4).generate(prompt: prompt, n: 1, parameters: .greedy(maxNewTokens: 10))[0]
        #expect(sample.tokens.count == 10)
        var sequence = prompt
        for (token, logProb) in zip(sample.tokens, sample.logProbs) {
            let logits = model.fullLogits(tokens: sequence)
            let last = logits[(sequence.count - 1) * V ..< sequence.count * V]
            let lsm = Self.logSoftmax(last)
            let argmax = lsm.indices.max { lsm[$0] < lsm[$1] }!
            #expect(token == argmax)
            #expect(abs(Double(logProb) - lsm[token]) < 1e-4)
            sequence.append(token)
        }
    }

    @Test(arguments: [false, true]) func sharedPrefillRowsAgreeWithSingleRow(qwen2Llama3: Bool) throws {
        let model = try Self.model(qwen2Llama3: qwen2Llama3)
        let sampler = Sampler(model: model, maxRows: 4)
        let one = sampler.generate(prompt: [1, 3, 5], n: 1, parameters: .greedy(maxNewTokens: 8))[0]
        let many = sampler.generate(prompt: [1, 3, 5], n: 4, parameters: .greedy(maxNewTokens: 8))
        for s in many {
            #expect(s.tokens == one.tokens)
            for (a, b) in zip(s.logProbs, one.logProbs) { #expect(abs(a - b) < 1e-5) }
        }
    }

    @Test func sampledLogProbsAreUnderTheTemperatureOneModel() throws {
        let model = try Self.model()
        let V = model.config.vocabSize
        let prompt = [2, 9]
        let p = SamplingParameters(temperature: 0.7, topK: 5, topP: 0.9, maxNewTokens: 6, seed: 3)
        let samples = Sampler(model: model, maxRows: 3).generate(prompt: prompt, n: 3, parameters: p)
        for s in samples {
            var sequence = prompt
            for (token, logProb) in zip(s.tokens, s.logProbs) {
                let logits = model.fullLogits(tokens: sequence)
                let lsm = Self.logSoftmax(logits[(sequence.count - 1) * V ..< sequence.count * V])
                #expect(abs(Double(logProb) - lsm[token]) < 1e-4)
                // top-k = 5: the token is among the 5 most likely
                #expect(lsm.filter { $0 > lsm[token] }.count < 5)
                sequence.append(token)
            }
        }
    }

    /// With the decode kernels every product of a sample, its prefill's
    /// too, splits by columns only, so its bits do not depend on the BLAS
    /// thread count (OpenBLAS's sgemm gives other bits with 1 and 2 threads):
    /// Float32 panels (AVX-512) and integer panels (a model quantized as
    /// Q4_K_M, every path), whose q/k/v and gate/up share one hand-off.
    /// In a child process (an exit test): the thread count is process-wide.
    @Test(.enabled(if: DecodeKernelTests.haveKernels, DecodeKernelTests.noKernels))
    func samplesDoNotDependOnTheThreadCount() async {
        await Self.expectSamplesIndependentOfThreads(quantized: false)
    }

    @Test func integerPanelSamplesDoNotDependOnTheThreadCount() async {
        await Self.expectSamplesIndependentOfThreads(quantized: true)
    }

    static func expectSamplesIndependentOfThreads(quantized: Bool, sourceLocation: SourceLocation = #_sourceLocation) async {
        await #expect(processExitsWith: .success, sourceLocation: sourceLocation) { [quantized] in
            let config = ModelConfig(vocabSize: 512, dim: 128, layers: 2, heads: 4, kvHeads: 2, hiddenDim: 384,
                                     ropeTheta: 10_000, tiedEmbeddings: true, maxSeqLen: 128)
            guard let model = try? Transformer(config: config, seed: 3) else { exit(2) }
            if quantized { model.quantizeMatrices(to: .q4_K_M) }
            let parameters = SamplingParameters(temperature: 1, maxNewTokens: 8, seed: 11)
            var runs: [[Sample]] = []
            for threads in [1, 2] {
                BLASThreads.set(threads)
                let sampler = Sampler(model: model, maxRows: 4, maxSequenceLength: 128)
                // 30 prompt rows: sgemm splits them over 2 threads in a way that changes bits
                runs.append(sampler.generate(prompt: Array(1...30), n: 4, parameters: parameters))
            }
            if runs[0].map(\.tokens) != runs[1].map(\.tokens) || runs[0].map(\.logProbs) != runs[1].map(\.logProbs) { exit(1) }
        }
    }

    @Test func sameSeedSameTokens() throws {
        let model = try Self.model()
        let sampler = Sampler(model: model, maxRows: 8)
        let p = SamplingParameters(temperature: 1.5, maxNewTokens: 12, seed: 42)
        let a = sampler.generate(prompt: [1, 2], n: 8, parameters: p)
        let b = sampler.generate(prompt: [1, 2], n: 8, parameters: p)
        #expect(a == b)
        #expect(Set(a.map(\.tokens)).count > 1)  // the 8 rows draw different streams
        var other = p
        other.seed = 43
        #expect(sampler.generate(prompt: [1, 2], n: 8, parameters: other) != a)
    }

    @Test func topKOneIsGreedyAndStopTokensStop() throws {
        let model = try Self.model()
        let sampler = Sampler(model: model, maxRows: 2)
        let greedy = sampler.generate(prompt: [1, 6], n: 1, parameters: .greedy(maxNewTokens: 8))[0]
        let topOne = sampler.generate(prompt: [1, 6], n: 2,
                                      parameters: SamplingParameters(temperature: 1, topK: 1, maxNewTokens: 8, seed: 1))
        #expect(topOne.allSatisfy { $0.tokens == greedy.tokens })
        let stop = greedy.tokens[2]
        let stopped = sampler.generate(prompt: [1, 6], n: 1, parameters: .greedy(maxNewTokens: 8, stopTokens: [stop]))[0]
        let firstStop = greedy.tokens.firstIndex(of: stop)!
        #expect(stopped.tokens == Array(greedy.tokens[...firstStop]) && stopped.stopped)
        #expect(!greedy.stopped)
    }

    @Test(arguments: [false, true]) func requestsDecodedTogetherMatchSeparateCalls(qwen2Llama3: Bool) throws {
        let model = try Self.model(qwen2Llama3: qwen2Llama3)
        // capacity 16: the long prompt leaves room for 3 new tokens only, the short ones for more
        let sampler = Sampler(model: model, maxRows: 8, maxSequenceLength: 16)
        let requests = [
            GenerationRequest(prompt: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 1], n: 2,
                              parameters: .init(temperature: 0.9, maxNewTokens: 10, seed: 5)),
            GenerationRequest(prompt: [1, 7], n: 3, parameters: .init(temperature: 1.2, topK: 6, maxNewTokens: 12, seed: 6)),
            GenerationRequest(prompt: [1, 4, 4], n: 1, parameters: .greedy(maxNewTokens: 9)),
        ]
        let together = sampler.generate(requests)
        #expect(together.map(\.count) == [2, 3, 1])
        #expect(together[0].allSatisfy { $0.tokens.count == 3 })  // 13 + 3 = capacity
        for (request, batched) in zip(requests, together) {
            let alone = sampler.generate(prompt: request.prompt, n: request.n, parameters: request.parameters)
            #expect(alone == batched)  // bit for bit: every product is row by row
        }
    }

    /// Continuous batching: requests that join while others decode, into the
    /// rows that finished ones left, get the samples they get alone, bit for bit.
    @Test(arguments: [false, true]) func requestsJoiningMidDecodeMatchSeparateCalls(qwen2Llama3: Bool) throws {
        let model = try Self.model(qwen2Llama3: qwen2Llama3)
        let sampler = Sampler(model: model, maxRows: 6, maxSequenceLength: 24)
        let requests = (0..<7).map { i in
            GenerationRequest(prompt: [1] + (0..<(1 + i % 3)).map { 2 + ($0 + i) % 10 }, n: 2 + i % 3,
                              parameters: .init(temperature: 1.1, maxNewTokens: 4 + 3 * (i % 4), stopTokens: [12], seed: UInt64(40 + i)))
        }
        var waiting = requests.indices[...]
        var results: [Int: [Sample]] = [:]
        var steps = 0, joinedMidDecode = 0
        while results.count < requests.count {
            while let next = waiting.first, sampler.admit(requests[next], tag: next) {
                if !sampler.isIdle, steps > 0 { joinedMidDecode += 1 }
                waiting.removeFirst()
            }
            for (tag, samples) in sampler.step() { results[tag] = samples }
            steps += 1
        }
        #expect(sampler.isIdle && sampler.freeRows == 6)
        #expect(joinedMidDecode >= 3)
        for (i, request) in requests.enumerated() {
            #expect(sampler.generate(prompt: request.prompt, n: request.n, parameters: request.parameters) == results[i])
        }
    }

    @Test func nextTokenLogProbsMatchFullForward() throws {
        let model = try Self.model()
        let V = model.config.vocabSize
        let lp = Sampler(model: model, maxRows: 1).nextTokenLogProbs(prompt: [1, 2, 3])
        let full = Self.logSoftmax(model.fullLogits(tokens: [1, 2, 3])[2 * V ..< 3 * V])
        for i in 0..<V { #expect(abs(Double(lp[i]) - full[i]) < 1e-4) }
    }
}
