import CKernels
import EASTCore
@testable import EASTEngine
import Foundation
import Testing

/// The C kernels of the decode step (CKernels) against plain references,
/// and the sampler's packed copy of the weights against the model itself.
@Suite struct DecodeKernelTests {
    /// The packed products run only with AVX-512 (decoding uses BLAS without
    /// it); attention, exp and argmax have portable paths and always run.
    static let haveKernels = east_kernels_available() != 0
    static let noKernels: Comment = "no AVX-512 here (or EAST_NO_AVX512 is set): decoding uses BLAS and these kernels never run"

    /// out = inp W^T in Double, the reference for both product paths.
    static func reference(_ inp: [Float], _ w: [Float], M: Int, K: Int, N: Int) -> [Double] {
        var out = [Double](repeating: 0, count: M * N)
        for m in 0..<M {
            for n in 0..<N {
                var s = 0.0
                for k in 0..<K { s += Double(inp[m * K + k]) * Double(w[n * K + k]) }
                out[m * N + n] = s
            }
        }
        return out
    }

    /// Odd shapes (a partial last panel, K past one 256-column chunk and not
    /// a multiple of 16) and every row count the kernel specialises, plus
    /// more than one group of 16.
    @Test(.enabled(if: Self.haveKernels, Self.noKernels), arguments: [1, 2, 3, 4, 5, 8, 9, 15, 16, 17, 35])
    func packedProductMatchesReference(M: Int) throws {
        let (K, N) = (301, 83)
        let w = randomFloats(N * K, seed: 1), inp = randomFloats(M * K, seed: 2)
        var packed = [Float](repeating: .nan, count: east_packed_count(K, N))
        east_pack_weight(&packed, w, K, N)
        var out = [Float](repeating: .nan, count: M * N)
        east_matmul_packed(&out, inp, packed, M, K, N, 0, N)
        let expected = Self.reference(inp, w, M: M, K: K, N: N)
        let worst = zip(out, expected).map { abs(Double($0) - $1) }.max()!
        #expect(worst < 1e-4, "largest error \(worst)")

        // Each output is one Float32 FMA chain over k in order, whatever
        // the chunks of columns the kernel takes: the bits of a plain loop.
        for m in [0, M - 1] {
            for n in 0..<N {
                var sum: Float = 0
                for k in 0..<K { sum.addProduct(inp[m * K + k], w[n * K + k]) }
                #expect(out[m * N + n] == sum, "row \(m), column \(n)")
            }
        }

        // Two column slices (as two threads would run them) give the same numbers.
        var halves = [Float](repeating: .nan, count: M * N)
        east_matmul_packed(&halves, inp, packed, M, K, N, 0, 48)
        east_matmul_packed(&halves, inp, packed, M, K, N, 48, N)
        #expect(halves == out)

        // A slice writes its columns and nothing else.
        var slice = [Float](repeating: .nan, count: M * N)
        east_matmul_packed(&slice, inp, packed, M, K, N, 16, 40)
        for m in 0..<M {
            for n in 0..<N {
                if (16..<40).contains(n) { #expect(slice[m * N + n] == out[m * N + n]) } else { #expect(slice[m * N + n].isNaN) }
            }
        }

        // Each row's result is the same bits whatever else shares the call.
        for m in [0, M - 1] {
            var alone = [Float](repeating: .nan, count: N)
            east_matmul_packed(&alone, Array(inp[(m * K)..<((m + 1) * K)]), packed, 1, K, N, 0, N)
            #expect(alone == Array(out[(m * N)..<((m + 1) * N)]))
        }
    }

    /// The decode product without AVX-512 (AVX2 + FMA, else C; on an AVX-512
    /// machine too): close to the reference, each row the same bits alone as
    /// beside others, column slices the same bits as one call.
    @Test(arguments: [1, 3, 16, 19])
    func rowProductMatchesReferenceAndIgnoresItsCompanions(M: Int) {
        let (K, N) = (301, 83)
        let w = randomFloats(N * K, seed: 21), inp = randomFloats(M * K, seed: 22)
        var out = [Float](repeating: .nan, count: M * N)
        east_matmul_rows(&out, inp, w, M, K, N, 0, N)
        let expected = Self.reference(inp, w, M: M, K: K, N: N)
        #expect(zip(out, expected).map { abs(Double($0) - $1) }.max()! < 1e-4)
        for m in [0, M - 1] {
            var alone = [Float](repeating: .nan, count: N)
            east_matmul_rows(&alone, Array(inp[(m * K)..<((m + 1) * K)]), w, 1, K, N, 0, N)
            #expect(alone == Array(out[(m * N)..<((m + 1) * N)]))
        }
        var halves = [Float](repeating: .nan, count: M * N)
        east_matmul_rows(&halves, inp, w, M, K, N, 0, 40)
        east_matmul_rows(&halves, inp, w, M, K, N, 40, N)
        #expect(halves == out)
    }

    /// The same product from one-byte codes, a scale and an offset a block
    /// of 32 (without AVX-512 the sampler decodes so): the bits of
    /// east_matmul_rows on the weights rebuilt in Swift as the loader does
    /// (scale * code, then + offset), with and without offsets, alone and
    /// in column slices. Runs on every machine (AVX2 + FMA, else C).
    @Test(arguments: [1, 3, 4, 9], [false, true])
    func rowProductFromCodesGivesTheFloatBits(M: Int, withOffsets: Bool) {
        let (K, N) = (96, 37), blocks = K / 32
        var rng = SeededGenerator(seed: 23)
        let codes = (0..<(N * K)).map { _ in Int8(Int(rng.next() % 24) - 8) }
        let scales = (0..<(N * blocks)).map { _ in Float(Float16(rng.nextUnitFloat() * 0.1 - 0.05)) }
        let offsets = (0..<(N * blocks)).map { _ in withOffsets ? Float(Float16(rng.nextUnitFloat() - 0.5)) : 0 }
        var w = [Float](repeating: 0, count: N * K)
        for n in 0..<N {
            for k in 0..<K {
                let product = scales[n * blocks + k / 32] * Float(codes[n * K + k])
                w[n * K + k] = product + offsets[n * blocks + k / 32]
            }
        }
        let inp = randomFloats(M * K, seed: 24)
        var fromFloats = [Float](repeating: .nan, count: M * N), fromCodes = fromFloats, slices = fromFloats
        east_matmul_rows(&fromFloats, inp, w, M, K, N, 0, N)
        offsets.withUnsafeBufferPointer { o in
            let offs = withOffsets ? o.baseAddress : nil
            east_matmul_rows_codes(&fromCodes, inp, codes, scales, offs, M, K, N, 0, N)
            east_matmul_rows_codes(&slices, inp, codes, scales, offs, M, K, N, 0, 20)
            east_matmul_rows_codes(&slices, inp, codes, scales, offs, M, K, N, 20, N)
        }
        #expect(fromCodes == fromFloats)
        #expect(slices == fromFloats)
    }

    /// The code formats of the code panels: (format, offsets, lowest code, highest code).
    static let codeFormats: [(Int32, Bool, Int8, Int8)] = [
        (Int32(EAST_CODES_8), true, -128, 127),  // Q8_0's bytes (with offsets too, which it never has)
        (Int32(EAST_CODES_8), false, -128, 127),  // Q8_0
        (Int32(EAST_CODES_4_SIGNED), false, -8, 7),  // Q4_0: q - 8
        (Int32(EAST_CODES_4_UNSIGNED), true, 0, 15),  // Q4_1
    ]

    /// Weights given as codes with a float16 scale and offset per 32 columns
    /// (as GGUF's quantized blocks dequantize) give the same bits from their
    /// code panels, one byte or half a byte a code, as from Float32 panels of
    /// the same values. The code panels run over all K in one pass, the
    /// Float32 ones in chunks of 256 columns: the same bits also say chunking
    /// changes none.
    @Test(.enabled(if: Self.haveKernels, Self.noKernels), arguments: [1, 4, 7, 16, 21], 0..<4)
    func codePanelsGiveTheFloatPanelsBits(M: Int, formatIndex: Int) throws {
        let (format, withOffsets, low, high) = Self.codeFormats[formatIndex]
        let (K, N) = (576, 50)
        var rng = SeededGenerator(seed: 11)
        var codes = [Int8](repeating: 0, count: N * K)
        for i in codes.indices { codes[i] = Int8(Int(low) + Int(rng.next() % UInt64(Int(high) - Int(low) + 1))) }
        codes[0] = low; codes[1] = high  // both ends of the range
        func half(_ x: [Float]) -> [Float] { x.map { Float(Float16($0)) } }  // GGUF's scales are float16
        let scales = half(randomFloats(N * K / 32, seed: 12, scale: 0.01))
        let offsets = withOffsets ? half(randomFloats(N * K / 32, seed: 13, scale: 0.1)) : [Float](repeating: 0, count: N * K / 32)
        var w = [Float](repeating: 0, count: N * K)
        for i in w.indices {
            let scaled: Float = scales[i / 32] * Float(codes[i])
            w[i] = scaled + offsets[i / 32]
        }
        let matrix = QuantizedMatrix(codes: codes, scales: scales, offsets: offsets)
        #expect(matrix.format == format && matrix.hasOffsets == withOffsets, "the format the packer chooses for these codes")
        let inp = randomFloats(M * K, seed: 14)
        var floatPanels = [Float](repeating: .nan, count: east_packed_count(K, N))
        east_pack_weight(&floatPanels, w, K, N)
        let bytes = east_qpacked_bytes(K, N, format, withOffsets ? 1 : 0)
        #expect(bytes == 4 * 18 * (format == Int32(EAST_CODES_8) ? 512 : 256) + 4 * 18 * (withOffsets ? 64 : 32))
        var codePanels = [UInt8](repeating: 0xA5, count: bytes + 64)
        offsets.withUnsafeBufferPointer { o in
            east_qpack_weight(&codePanels, codes, scales, withOffsets ? o.baseAddress : nil, K, N, format)
        }
        #expect(codePanels[bytes...].allSatisfy { $0 == 0xA5 }, "nothing written past east_qpacked_bytes")
        var fromFloats = [Float](repeating: .nan, count: M * N), fromCodes = fromFloats
        east_matmul_packed(&fromFloats, inp, floatPanels, M, K, N, 0, N)
        east_matmul_qpacked(&fromCodes, inp, codePanels, M, K, N, 0, N, format, withOffsets ? 1 : 0)
        #expect(fromCodes == fromFloats)
        let expected = Self.reference(inp, w, M: M, K: K, N: N)
        #expect(zip(fromCodes, expected).map { abs(Double($0) - $1) }.max()! < 1e-4)

        // Column slices, as threads run them: the same numbers, nothing else written.
        var slices = [Float](repeating: .nan, count: M * N)
        east_matmul_qpacked(&slices, inp, codePanels, M, K, N, 0, 16, format, withOffsets ? 1 : 0)
        east_matmul_qpacked(&slices, inp, codePanels, M, K, N, 32, N, format, withOffsets ? 1 : 0)
        for m in 0..<M {
            for n in 0..<N {
                if (16..<32).contains(n) { #expect(slices[m * N + n].isNaN) } else { #expect(slices[m * N + n] == fromFloats[m * N + n]) }
            }
        }
    }

    /// A model quantized as llama.cpp stores Q4_0 (4-bit codes -8..7, no
    /// offsets), Q4_1 (0..15 with offsets) and Q8_0 (bytes): the sampler
    /// decodes from the codes (at their density with AVX-512, one byte each
    /// without) and gives the bits of a Float32 copy of the same weights,
    /// tokens and log-probs. On both paths.
    @Test(arguments: [GGMLType.q4_0, .q4_1, .q8_0])
    func decodingFromEachCodeFormatChangesNoBit(type: GGMLType) throws {
        let config = ModelConfig(vocabSize: 96, dim: 64, layers: 2, heads: 4, kvHeads: 2, hiddenDim: 160, maxSeqLen: 48)
        let model = try Transformer(config: config, seed: 7)
        model.quantizeMatrices(to: type)
        let quantized = try #require(model.quantized)
        #expect(quantized.matrices.count == 7 * config.layers + 1, "every matrix and the tied head")
        let format = type == .q4_0 ? EAST_CODES_4_SIGNED : type == .q4_1 ? EAST_CODES_4_UNSIGNED : EAST_CODES_8
        #expect(quantized.matrices.values.allSatisfy { $0.format == Int32(format) && $0.hasOffsets == (type == .q4_1) })
        try Self.expectCodesSampleLikeFloats(model, prompt: [1, 5, 9, 2, 33, 7, 60, 4], maxSequenceLength: 32)
    }

    /// Three samples of `model` decoded from its codes are those of a copy
    /// holding only its Float32 weights, token for token and bit for bit.
    static func expectCodesSampleLikeFloats(_ model: Transformer, prompt: [Int], maxSequenceLength: Int,
                                            sourceLocation: SourceLocation = #_sourceLocation) throws {
        let copy = try Transformer(config: model.config, parameters: FloatBuffer(model.parameters.array))
        #expect(copy.quantized == nil, sourceLocation: sourceLocation)
        let parameters = SamplingParameters(temperature: 1, maxNewTokens: 12, seed: 3)
        let fromCodes = Sampler(model: model, maxRows: 3, maxSequenceLength: maxSequenceLength).generate(prompt: prompt, n: 3, parameters: parameters)
        let fromFloats = Sampler(model: copy, maxRows: 3, maxSequenceLength: maxSequenceLength).generate(prompt: prompt, n: 3, parameters: parameters)
        #expect(fromCodes.map(\.tokens) == fromFloats.map(\.tokens), sourceLocation: sourceLocation)
        #expect(fromCodes.map(\.logProbs) == fromFloats.map(\.logProbs), sourceLocation: sourceLocation)
    }

    /// The loader's codes are kept only when they rebuild every weight and
    /// their scales and offsets are float16 values (the panels store them so);
    /// a matrix that fails either decodes from Float32 instead.
    @Test func quantizedMatricesKeepOnlyExactCodes() throws {
        let config = ModelConfig(vocabSize: 64, dim: 32, layers: 1, heads: 2, kvHeads: 2, hiddenDim: 64, maxSeqLen: 16)
        let layout = ParameterLayout(config: config), count = config.dim * config.dim
        let model = try Transformer(config: config, parameters: FloatBuffer(count: layout.totalCount))
        let codes = (0..<count).map { Int8($0 % 16) }, scales = [Float](repeating: 0.5, count: count / 32)
        let p = model.parameters.pointer
        for (i, c) in codes.enumerated() { p[layout.layers[0].q + i] = 0.5 * Float(c) + 0.25; p[layout.layers[0].o + i] = 0.5 * Float(c) }
        let exact = QuantizedMatrix(codes: codes, scales: scales, offsets: [Float](repeating: 0.25, count: count / 32))
        let notHalf = QuantizedMatrix(codes: codes.map { $0 / 2 }, scales: [Float](repeating: 1 + 0x1p-20, count: count / 32),
                                      offsets: [Float](repeating: 0, count: count / 32))
        let q = QuantizedMatrices(model: model, matrices: [layout.layers[0].q: exact, layout.layers[0].o: notHalf,
                                                           layout.layers[0].k: exact])
        #expect(Set(q.matrices.keys) == [layout.layers[0].q], "o: scale not a float16 value; k: codes do not rebuild its weights")
        #expect(exact.format == Int32(EAST_CODES_4_UNSIGNED) && exact.hasOffsets)
    }

    /// One query over a cache with grouped heads, against softmax attention
    /// in Double: one and two query heads per key/value head (the kernel
    /// takes them in pairs), lengths around its 16- and 64-position blocks.
    @Test(arguments: [(1, 6, 2), (7, 6, 2), (33, 6, 3), (64, 4, 4), (65, 6, 2), (130, 9, 3)])
    func attendOneMatchesReference(length: Int, heads: Int, kvHeads: Int) {
        let hd = 20, capacity = length + 5  // positions padded, as a cache row is
        // keys in blocks of 16 positions, padded between blocks; values by
        // head, then position (as the cache holds them), padded between positions and heads
        let keyBlockStride = (kvHeads * hd + 2) * 16
        let valueStride = hd + 3, valueHeadStride = capacity * valueStride + 7
        func key(_ j: Int, _ column: Int) -> Int { j / 16 * keyBlockStride + column * 16 + j % 16 }
        func value(_ j: Int, _ g: Int, _ c: Int) -> Int { g * valueHeadStride + j * valueStride + c }
        let q = randomFloats(heads * hd, seed: 3), keys = randomFloats((capacity + 15) / 16 * keyBlockStride, seed: 4)
        let values = randomFloats(kvHeads * valueHeadStride, seed: 5)
        let scale = 1 / Float(hd).squareRoot()
        var out = [Float](repeating: .nan, count: heads * hd), scores = [Float](repeating: 0, count: 2 * length)
        east_attend_one(&out, q, keys, values, 0, keys, values, length, heads, kvHeads, hd, keyBlockStride, valueStride,
                        valueHeadStride, scale, &scores)
        var worst = 0.0
        for h in 0..<heads {
            let g = h / (heads / kvHeads)
            let s = (0..<length).map { j in
                (0..<hd).reduce(0.0) { $0 + Double(keys[key(j, g * hd + $1)]) * Double(q[h * hd + $1]) } * Double(scale)
            }
            let e = s.map { exp($0 - s.max()!) }, z = e.reduce(0, +)
            for c in 0..<hd {
                let expected = (0..<length).reduce(0.0) { $0 + e[$1] / z * Double(values[value($1, g, c)]) }
                worst = max(worst, abs(expected - Double(out[h * hd + c])))
            }
        }
        #expect(worst < 1e-5, "largest error \(worst)")

        // The first `prefix` positions read from another buffer (a shared
        // prompt's row), the rest from the own row: the same bits. Each
        // buffer is poisoned where it must not be read, so reading it there
        // would show (a prefix inside a block of 16 splits that block).
        for prefix in Set([1, length / 2, length - 1, length]) where prefix >= 1 {
            var sharedKeys = keys, sharedValues = values, ownKeys = keys, ownValues = values
            for j in 0..<capacity {
                for column in 0..<(kvHeads * hd) {
                    if j < prefix { ownKeys[key(j, column)] = .nan } else { sharedKeys[key(j, column)] = .nan }
                }
                for g in 0..<kvHeads {
                    for c in 0..<hd {
                        if j < prefix { ownValues[value(j, g, c)] = .nan } else { sharedValues[value(j, g, c)] = .nan }
                    }
                }
            }
            var split = [Float](repeating: .nan, count: heads * hd)
            east_attend_one(&split, q, sharedKeys, sharedValues, prefix, ownKeys, ownValues, length, heads, kvHeads, hd,
                            keyBlockStride, valueStride, valueHeadStride, scale, &scores)
            #expect(split == out, "prefix \(prefix) of \(length)")
        }
    }

    /// The kept count and mass, and the inverse-CDF draw, against plain
    /// loops: u halfway between two cumulative sums (away from rounding)
    /// picks the token whose step holds it; weights below tau are skipped.
    @Test(arguments: [1, 15, 16, 17, 100, 8193])
    func keptMassAndDrawMatchPlainLoops(n: Int) {
        let p = randomFloats(n, seed: 21).map { abs($0) + 0.01 }
        for tau: Float in [0, 0.3] {
            var count: Float = 0, mass: Float = 0
            east_kept(p, n, tau, &count, &mass)
            let kept = p.indices.filter { p[$0] >= tau }
            #expect(Int(count) == kept.count)
            let exact = kept.reduce(0.0) { $0 + Double(p[$1]) }
            #expect(abs(Double(mass) - exact) <= 1e-5 * max(exact, 1))
            for (j, i) in kept.enumerated() where j % max(1, kept.count / 40) == 0 || j == kept.count - 1 {
                let before = kept[..<j].reduce(0.0) { $0 + Double(p[$1]) }
                #expect(east_draw(p, n, tau, Float(before + Double(p[i]) / 2)) == i, "u in the step of \(i)")
            }
            #expect(east_draw(p, n, tau, mass * 2) == (kept.last ?? -1))  // past the end: the last kept
        }
        #expect(east_draw(p, n, 10, 0) == -1)  // nothing kept
    }

    /// The first index of the maximum, as the scalar loop it replaced
    /// (ties keep the earliest), on lengths that end mid-vector.
    @Test(arguments: [1, 15, 16, 17, 100, 8193])
    func argmaxIsTheFirstLargest(n: Int) {
        var x = randomFloats(n, seed: UInt64(n), scale: 3).map { $0 - 10 }  // all negative
        #expect(east_argmax(x, n) == x.indices.max { x[$0] < x[$1] || (x[$0] == x[$1] && $0 > $1) }!)
        x[n - 1] = 5
        x[n / 2] = 5  // a tie: the earlier one wins
        #expect(east_argmax(x, n) == n / 2)
        if n > 2 {  // a NaN (a broken model) never wins
            x[1] = .nan
            #expect(east_argmax(x, n) == n / 2)
        }
    }

    @Test func expSumMatchesFoundation() {
        let input = (0..<1000).map { Float($0) * -0.093 + 2 }
        var out = [Float](repeating: .nan, count: input.count)
        let sum = east_exp_sum(&out, input, input.count, 2, 0.7)
        var expectedSum = 0.0, worst = 0.0
        for (x, y) in zip(input, out) {
            let e = exp(Double((x - 2) * Float(0.7)))  // the argument rounded to Float, as the kernel has it
            expectedSum += e
            if e > 1e-30 { worst = max(worst, abs(Double(y) - e) / e) }
        }
        #expect(worst < 1e-6, "largest relative error \(worst)")
        #expect(abs(Double(sum) - expectedSum) / expectedSum < 1e-6)
    }

    /// Greedy decoding reads the packed copy; after a training step moves the
    /// weights, the same sampler must decode what a brand-new one decodes.
    @Test func samplerRepacksAfterTraining() throws {
        let model = try SamplingTests.model()
        let sampler = Sampler(model: model, maxRows: 2)
        let prompt = [1, 4, 7, 2]
        let before = sampler.generate(prompt: prompt, n: 1, parameters: .greedy(maxNewTokens: 8))[0]
        let trainer = Trainer(model: model, schedule: LearningRateSchedule(peak: 0.05, totalSteps: 10))
        let batch = TokenBatch(sequences: [(prompt: prompt, completion: [3, 3, 3, 3, 3, 3, 3, 3])], padId: 0)
        for _ in 0..<5 { trainer.step([batch]) { SFTLoss.compute($0, $1, weights: [1]) } }
        let after = sampler.generate(prompt: prompt, n: 1, parameters: .greedy(maxNewTokens: 8))[0]
        let fresh = Sampler(model: model, maxRows: 2).generate(prompt: prompt, n: 1, parameters: .greedy(maxNewTokens: 8))[0]
        #expect(after.tokens != before.tokens, "training toward token 3 should change the greedy continuation")
        #expect(after.tokens == fresh.tokens)
        #expect(after.logProbs == fresh.logProbs)
    }
}
