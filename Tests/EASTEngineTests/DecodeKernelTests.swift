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

    /// Random blocks of `type` as a GGUF file could hold them: random bytes
    /// with their float16 scales set to sane values (random bits there would
    /// be NaNs or huge), so every code of every sub-block occurs.
    static func randomBlocks(_ type: GGMLType, count: Int, seed: UInt64) -> [UInt8] {
        // where each type keeps its float16 scales, and their size
        let halves: [GGMLType: [(Int, Float)]] = [
            .q4_0: [(0, 0.01)], .q4_1: [(0, 0.005), (2, -0.04)], .q5_0: [(0, 0.005)], .q5_1: [(0, 0.003), (2, -0.04)],
            .q8_0: [(0, 0.0005)], .q2_K: [(80, 0.002), (82, 0.001)], .q3_K: [(108, 0.0005)],
            .q4_K: [(0, 0.0005), (2, 0.0005)], .q5_K: [(0, 0.0003), (2, 0.0005)], .q6_K: [(208, 0.0001)],
        ]
        var rng = SeededGenerator(seed: seed)
        var bytes = (0..<(count * type.blockBytes)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        for b in 0..<count {
            for (offset, size) in halves[type]! {
                let h = Float16(size * (0.5 + Float(rng.next() % 1000) / 1000)).bitPattern
                bytes[b * type.blockBytes + offset] = UInt8(h & 0xFF)
                bytes[b * type.blockBytes + offset + 1] = UInt8(h >> 8)
            }
        }
        return bytes
    }

    /// The integer product (8-bit activations, integer dot products, one
    /// float multiply-add a block and one for the offsets) of every type's
    /// codes, against the product in Double of the dequantized weights and
    /// the unquantized input: within the bound the rounding allows, per
    /// output, of the activations to 1/254 of their block's largest
    /// magnitude and of each scale and offset to float16. Also: each row
    /// the same bits alone as beside others, column slices the bits of one
    /// call and nothing outside them written. On whichever path runs (AVX2,
    /// or AVX-512 VNNI; EAST_NO_AVX512=1 reruns it on AVX2).
    @Test(arguments: [GGMLType.q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K], [1, 5, 16, 19])
    func integerProductIsWithinItsRoundingOfTheReference(type: GGMLType, M: Int) throws {
        let (K, N, R) = (512, 44, Int(east_int_rows()))  // 44: a partial last panel for 8 and 16 rows
        let blocks = Self.randomBlocks(type, count: N * K / type.blockSize, seed: UInt64(type.rawValue))
        let q = try #require(blocks.withUnsafeBytes { type.blockCodes($0.baseAddress!, count: N * K) })
        var w = [Float](repeating: 0, count: N * K)
        blocks.withUnsafeBytes { type.dequantize($0.baseAddress!, count: N * K, into: &w) }
        var inp = randomFloats(M * K, seed: 2)
        inp[7] = 3  // an outlier: its block's other values get coarser steps
        let (bits, lowest) = q.panelFormat, sub = Int32(type.subBlock)
        let bytes = east_ipacked_bytes(K, N, bits, sub, Int32(R))
        var panels = [UInt8](repeating: 0xA5, count: bytes + 64)
        q.offsets.withUnsafeBufferPointer { o in
            east_ipack_weight(&panels, q.codes, q.scales, o.baseAddress, K, N, sub, bits, lowest, Int32(R))
        }
        #expect(panels[bytes...].allSatisfy { $0 == 0xA5 }, "nothing written past east_ipacked_bytes")
        var acts = [UInt8](repeating: 0, count: east_acts_bytes(M, K))
        east_quantize_acts(&acts, inp, M, K)
        var out = [Float](repeating: .nan, count: M * N)
        east_imatmul(&out, acts, panels, M, K, N, 0, N, bits, sub)

        // the bound: sum_k |w| |x - x8| + |w - w16| |x8|, x8 the 8-bit
        // activations (error at most half a step), w16 the weights from
        // float16 scales and offsets (each off by at most 2^-11 relative)
        let expected = Self.reference(inp, w, M: M, K: K, N: N)
        let s = Int(sub)
        var worst = 0.0
        for m in 0..<M {
            for n in 0..<N {
                var bound = 1e-6
                for k in 0..<K {
                    let block = inp[(m * K + k / 32 * 32)..<(m * K + k / 32 * 32 + 32)]
                    let step = Double(block.map(abs).max()!) / 127, x = Double(inp[m * K + k])
                    let i = n * (K / s) + k / s
                    let u = Double(Int(q.codes[n * K + k]) - Int(lowest))
                    let wError = (abs(u * Double(q.scales[i])) + abs(Double(q.offsets[i]) + Double(lowest) * Double(q.scales[i]))) * 0x1p-11
                    bound += abs(Double(w[n * K + k])) * step / 2 + (bits == 8 ? 0 : wError) * (abs(x) + step / 2)
                }
                let error = abs(Double(out[m * N + n]) - expected[m * N + n])
                worst = max(worst, error / bound)
                #expect(error <= bound, "row \(m), column \(n): error \(error), bound \(bound)")
            }
        }
        print("integer product \(type.name), M = \(M): largest error \(worst) of its bound")

        // slices as threads cut them (multiples of R): the same bits, nothing else written
        var slice = [Float](repeating: .nan, count: M * N)
        east_imatmul(&slice, acts, panels, M, K, N, R, N, bits, sub)
        for m in 0..<M {
            for n in 0..<N { #expect(n < R ? slice[m * N + n].isNaN : slice[m * N + n] == out[m * N + n]) }
        }
        // each row alone: the same bits
        for m in [0, M - 1] {
            var alone = [Float](repeating: .nan, count: N), one = [UInt8](repeating: 0, count: east_acts_bytes(1, K))
            east_quantize_acts(&one, Array(inp[(m * K)..<((m + 1) * K)]), 1, K)
            east_imatmul(&alone, one, panels, 1, K, N, 0, N, bits, sub)
            #expect(alone == Array(out[(m * N)..<((m + 1) * N)]))
        }
    }

    /// A model quantized as llama.cpp stores each type (or the Q4_K_M
    /// mix): the sampler decodes from integer panels and stays close to a
    /// Float32 copy of the same weights: the same greedy tokens for most of
    /// a continuation and next-token log-probs within the rounding of 8-bit
    /// activations.
    @Test(arguments: ["q4_0", "q4_1", "q5_0", "q5_1", "q8_0", "q4_k", "q5_k", "q6_k", "q4_k_m"])
    func integerDecodingStaysCloseToFloats(mix name: String) throws {
        let config = ModelConfig(vocabSize: 96, dim: 256, layers: 2, heads: 4, kvHeads: 2, hiddenDim: 512, maxSeqLen: 48)
        let model = try Transformer(config: config, seed: 7)
        model.quantizeMatrices(to: try #require(QuantizationMix(name: name)))
        let quantized = try #require(model.quantized)
        #expect(quantized.matrices.count == 7 * config.layers + 1, "every matrix and the tied head")
        let copy = try Transformer(config: config, parameters: FloatBuffer(model.parameters.array))
        let prompt = [1, 5, 9, 2, 33, 7, 60, 4]
        let fromCodes = Sampler(model: model, maxRows: 1, maxSequenceLength: 32).nextTokenLogProbs(prompt: prompt)
        let fromFloats = Sampler(model: copy, maxRows: 1, maxSequenceLength: 32).nextTokenLogProbs(prompt: prompt)
        let worst = zip(fromCodes, fromFloats).map { abs($0 - $1) }.max()!
        print("integer decoding \(name): largest next-token log-prob difference \(worst)")
        #expect(worst < 0.02, "largest log-prob difference \(worst)")
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
