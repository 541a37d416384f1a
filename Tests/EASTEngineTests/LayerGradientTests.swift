@testable import EASTEngine
import Foundation
import Testing

/// Every layer's backward against central finite differences of its forward.
@Suite struct LayerGradientTests {
    @Test func matmul() {
        let M = 3, K = 5, N = 4
        let x = randomFloats(M * K, seed: 1), w = randomFloats(N * K, seed: 2), dy = randomFloats(M * N, seed: 3)
        func f(_ x: [Float], _ w: [Float]) -> [Float] {
            [Float](repeating: 0, count: M * N).mutated { Matmul.forward(out: $0, inp: x, weight: w, M: M, K: K, N: N) }
        }
        var dx = [Float](repeating: 0, count: M * K), dw = [Float](repeating: 0, count: N * K)
        dx.withUnsafeMutableBufferPointer { dxp in
            dw.withUnsafeMutableBufferPointer { dwp in
                Matmul.backward(dinp: dxp.baseAddress!, dweight: dwp.baseAddress!, dout: dy, inp: x, weight: w,
                                M: M, K: K, N: N)
            }
        }
        checkGradient("dx", values: x, analytic: dx) { weightedSum(f($0, w), dy) }
        checkGradient("dw", values: w, analytic: dw) { weightedSum(f(x, $0), dy) }
    }

    @Test func rmsNorm() {
        let N = 3, C = 8
        let x = randomFloats(N * C, seed: 4), w = randomFloats(C, seed: 5), dy = randomFloats(N * C, seed: 6)
        func f(_ x: [Float], _ w: [Float]) -> [Float] {
            var rstd = [Float](repeating: 0, count: N)
            return [Float](repeating: 0, count: N * C).mutated {
                RMSNorm.forward(out: $0, rstd: &rstd, inp: x, weight: w, N: N, C: C, eps: 1e-5)
            }
        }
        var rstd = [Float](repeating: 0, count: N)
        _ = [Float](repeating: 0, count: N * C).mutated {
            RMSNorm.forward(out: $0, rstd: &rstd, inp: x, weight: w, N: N, C: C, eps: 1e-5)
        }
        var dw = [Float](repeating: 0, count: C)
        let dx = [Float](repeating: 0, count: N * C).mutated { dxp in
            RMSNorm.backward(dinp: dxp, dweight: &dw, dout: dy, inp: x, weight: w, rstd: rstd, N: N, C: C)
        }
        checkGradient("dx", values: x, analytic: dx) { weightedSum(f($0, w), dy) }
        checkGradient("dw", values: w, analytic: dw) { weightedSum(f(x, $0), dy) }
    }

    @Test func embedding() {
        let V = 5, C = 3, N = 4
        let table = randomFloats(V * C, seed: 7), dy = randomFloats(N * C, seed: 8)
        let tokens: [Int32] = [1, 3, 1, 4]
        func f(_ t: [Float]) -> [Float] {
            [Float](repeating: 0, count: N * C).mutated { Embedding.forward(out: $0, tokens: tokens, table: t, N: N, C: C) }
        }
        let dt = [Float](repeating: 0, count: V * C).mutated {
            Embedding.backward(dtable: $0, dout: dy, tokens: tokens, N: N, C: C)
        }
        checkGradient("dtable", values: table, analytic: dt) { weightedSum(f($0), dy) }
    }

    @Test func rope() {
        let N = 6, T = 3, heads = 2, hd = 4
        let rope = RoPE(headDim: hd, maxSeqLen: 8, theta: 10_000)
        let x = randomFloats(N * heads * hd, seed: 9), dy = randomFloats(N * heads * hd, seed: 10)
        func f(_ x: [Float]) -> [Float] { x.mutated { rope.forward($0, N: N, T: T, heads: heads) } }
        let dx = dy.mutated { rope.backward($0, N: N, T: T, heads: heads) }
        checkGradient("dx", values: x, analytic: dx) { weightedSum(f($0), dy) }
        // HF convention: position 0 is the identity; at position 1, channel 0 pairs with channel hd/2.
        let y = f(x)
        #expect(Array(y[0..<hd]) == Array(x[0..<hd]))
        let c = Float(1).cosine, s = Float(1).sine
        let base = heads * hd  // token 1, head 0; angle for i = 0 is 1 * theta^0 = 1
        #expect(abs(y[base] - (x[base] * c - x[base + hd / 2] * s)) < 1e-6)
        #expect(abs(y[base + hd / 2] - (x[base + hd / 2] * c + x[base] * s)) < 1e-6)
    }

    /// Llama 3's scaled frequencies rotate by other angles; the backward is still the inverse rotation.
    @Test func scaledRoPE() {
        let N = 6, T = 6, heads = 2, hd = 8
        let c = ModelConfig(vocabSize: 2, dim: heads * hd, layers: 1, heads: heads, kvHeads: heads, hiddenDim: 2,
                            ropeTheta: 100, ropeScaling: RoPEScaling(factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 32))
        let frequencies = c.ropeFrequencies
        // theta 100, hd 8: wavelengths 6.3, 20, 63, 200 against bands at 32 / 4 = 8 and 32:
        // kept, smoothed (s = (32 / 20 - 1) / 3 = 0.2), divided, divided
        let plain = (0..<4).map { pow(100.0, -2.0 * Double($0) / 8) }
        #expect(frequencies[0] == plain[0])
        let s = (32 / (2 * Double.pi / plain[1]) - 1) / 3
        #expect(abs(frequencies[1] - ((1 - s) * plain[1] / 8 + s * plain[1])) < 1e-15)
        #expect(abs(frequencies[2] - plain[2] / 8) < 1e-15 && abs(frequencies[3] - plain[3] / 8) < 1e-15)
        let rope = RoPE(headDim: hd, maxSeqLen: 8, frequencies: frequencies)
        let x = randomFloats(N * heads * hd, seed: 31), dy = randomFloats(N * heads * hd, seed: 32)
        func f(_ x: [Float]) -> [Float] { x.mutated { rope.forward($0, N: N, T: T, heads: heads) } }
        let dx = dy.mutated { rope.backward($0, N: N, T: T, heads: heads) }
        checkGradient("dx", values: x, analytic: dx) { weightedSum(f($0), dy) }
        // position 5, pair 2: rotated by 5 * theta^(-1/2) / 8
        let y = f(x), base = 5 * heads * hd, angle = Float(5 * plain[2] / 8)
        #expect(abs(y[base + 2] - (x[base + 2] * cos(angle) - x[base + 6] * sin(angle))) < 1e-6)
    }

    @Test func bias() {
        let N = 5, C = 3
        let b = randomFloats(C, seed: 33), x = randomFloats(N * C, seed: 34), dy = randomFloats(N * C, seed: 35)
        func f(_ b: [Float]) -> [Float] { x.mutated { Bias.forward($0, bias: b, N: N, C: C) } }
        let db = [Float](repeating: 0, count: C).mutated { Bias.backward(dbias: $0, dout: dy, N: N, C: C) }
        checkGradient("dbias", values: b, analytic: db) { weightedSum(f($0), dy) }
        #expect(f(b)[C + 1] == x[C + 1] + b[1])
    }

    @Test func swiglu() {
        let N = 10
        let g = randomFloats(N, seed: 11, scale: 3), u = randomFloats(N, seed: 12), dy = randomFloats(N, seed: 13)
        func f(_ g: [Float], _ u: [Float]) -> [Float] {
            [Float](repeating: 0, count: N).mutated { SwiGLU.forward(h: $0, gate: g, up: u, N: N) }
        }
        var dg = [Float](repeating: 0, count: N), du = dg
        SwiGLU.backward(dgate: &dg, dup: &du, dh: dy, gate: g, up: u, N: N)
        checkGradient("dgate", values: g, analytic: dg) { weightedSum(f($0, u), dy) }
        checkGradient("dup", values: u, analytic: du) { weightedSum(f(g, $0), dy) }
    }

    @Test func groupedCausalAttention() {
        let B = 2, T = 4, H = 4, KV = 2, hd = 4
        let q = randomFloats(B * T * H * hd, seed: 14), k = randomFloats(B * T * KV * hd, seed: 15)
        let v = randomFloats(B * T * KV * hd, seed: 16), dy = randomFloats(B * T * H * hd, seed: 17)
        var probs = [Float](repeating: 0, count: B * H * T * T)
        func f(_ q: [Float], _ k: [Float], _ v: [Float]) -> [Float] {
            var probs = [Float](repeating: 0, count: B * H * T * T)
            return [Float](repeating: 0, count: B * T * H * hd).mutated {
                Attention.forward(out: $0, probs: &probs, q: q, k: k, v: v, B: B, T: T, H: H, KV: KV, hd: hd)
            }
        }
        _ = [Float](repeating: 0, count: B * T * H * hd).mutated {
            Attention.forward(out: $0, probs: &probs, q: q, k: k, v: v, B: B, T: T, H: H, KV: KV, hd: hd)
        }
        var dq = [Float](repeating: 0, count: q.count), dk = [Float](repeating: 0, count: k.count)
        var dv = dk
        Attention.backward(dq: &dq, dk: &dk, dv: &dv, dout: dy, probs: probs,
                           q: q, k: k, v: v, B: B, T: T, H: H, KV: KV, hd: hd)
        checkGradient("dq", values: q, analytic: dq) { weightedSum(f($0, k, v), dy) }
        checkGradient("dk", values: k, analytic: dk) { weightedSum(f(q, $0, v), dy) }
        checkGradient("dv", values: v, analytic: dv) { weightedSum(f(q, k, $0), dy) }
        // causality: the first position attends only to itself
        #expect(probs[0] == 1 && probs[1] == 0)
    }

    /// T = 70 spans two row blocks of 64 (the second partial): the output
    /// against attention computed in Double over the whole (T, T) scores,
    /// the gradients against finite differences.
    @Test func causalAttentionAcrossRowBlocks() {
        let B = 1, T = Attention.rowBlock + 6, H = 2, KV = 1, hd = 4
        let q = randomFloats(B * T * H * hd, seed: 24), k = randomFloats(B * T * KV * hd, seed: 25)
        let v = randomFloats(B * T * KV * hd, seed: 26), dy = randomFloats(B * T * H * hd, seed: 27)
        var probs = [Float](repeating: .nan, count: B * H * T * T)
        func f(_ q: [Float], _ k: [Float], _ v: [Float]) -> [Float] {
            var probs = [Float](repeating: 0, count: B * H * T * T)
            return [Float](repeating: 0, count: B * T * H * hd).mutated {
                Attention.forward(out: $0, probs: &probs, q: q, k: k, v: v, B: B, T: T, H: H, KV: KV, hd: hd)
            }
        }
        let out = [Float](repeating: .nan, count: B * T * H * hd).mutated {
            Attention.forward(out: $0, probs: &probs, q: q, k: k, v: v, B: B, T: T, H: H, KV: KV, hd: hd)
        }
        var worst = 0.0
        for h in 0..<H {
            for i in 0..<T {
                let scores = (0...i).map { j in (0..<hd).reduce(0.0) { $0 + Double(q[(i * H + h) * hd + $1]) * Double(k[j * hd + $1]) } / 2 }
                let top = scores.max()!, weights = scores.map { Foundation.exp($0 - top) }, total = weights.reduce(0, +)
                for d in 0..<hd {
                    let expected = (0...i).reduce(0.0) { $0 + weights[$1] / total * Double(v[$1 * hd + d]) }
                    worst = max(worst, abs(expected - Double(out[(i * H + h) * hd + d])))
                }
                #expect(probs[(h * T + i) * T + i + 1..<(h * T + i + 1) * T].allSatisfy { $0 == 0 })
            }
        }
        #expect(worst < 1e-5)
        var dq = [Float](repeating: 0, count: q.count), dk = [Float](repeating: 0, count: k.count), dv = dk
        Attention.backward(dq: &dq, dk: &dk, dv: &dv, dout: dy, probs: probs,
                           q: q, k: k, v: v, B: B, T: T, H: H, KV: KV, hd: hd)
        checkGradient("dq", values: q, analytic: dq) { weightedSum(f($0, k, v), dy) }
        checkGradient("dk", values: k, analytic: dk) { weightedSum(f(q, $0, v), dy) }
        checkGradient("dv", values: v, analytic: dv) { weightedSum(f(q, k, $0), dy) }
    }

    /// chunk 2: the logits in chunks, computed again in backward; chunk 5
    /// (= N): the forward's logits kept in the scratch and reused. Row 2 has
    /// no gradient, so the backward's products run over two runs of rows.
    @Test(arguments: [2, 5]) func outputHeadLogSoftmax(chunk: Int) {
        let N = 5, C = 6, V = 7
        let hidden = randomFloats(N * C, seed: 18), w = randomFloats(V * C, seed: 19)
        let targets: [Int32] = [0, 6, 3, 3, 1]
        let dlogp: [Float] = [0.5, -1, 0, 2, 0.25]
        func run(_ hidden: [Float], _ w: [Float]) -> (logp: [Float], lse: [Float], sq: [Float], scratch: [Float]) {
            var logp = [Float](repeating: 0, count: N), lse = logp, sq = logp
            var scratch = [Float](repeating: 0, count: chunk * V)
            OutputHead.forward(targetLogProbs: &logp, logSumExp: &lse, logSumSquaredProbs: &sq,
                               hidden: hidden, weight: w, targets: targets, scratch: &scratch,
                               chunkRows: chunk, N: N, C: C, V: V)
            return (logp, lse, sq, scratch)
        }
        var (_, lse, sq, scratch) = run(hidden, w)
        if chunk < N { scratch = [Float](repeating: .nan, count: chunk * V) }  // must be computed again
        var dh = [Float](repeating: .nan, count: N * C), dw = [Float](repeating: 0, count: V * C)
        OutputHead.backward(dhidden: &dh, dweight: &dw, dlogp: dlogp, hidden: hidden, weight: w,
                            targets: targets, logSumExp: lse, scratch: &scratch, chunkRows: chunk, N: N, C: C, V: V)
        #expect(dh[(2 * C)..<(3 * C)].allSatisfy { $0 == 0 })
        checkGradient("dhidden", values: hidden, analytic: dh) { weightedSum(run($0, w).logp, dlogp) }
        checkGradient("dweight", values: w, analytic: dw) { weightedSum(run(hidden, $0).logp, dlogp) }
        // log sum p^2 by hand for row 0
        var logits = [Double](repeating: 0, count: V)
        for v in 0..<V { for i in 0..<C { logits[v] += Double(hidden[i]) * Double(w[v * C + i]) } }
        let z = logits.map { Foundation.exp($0) }.reduce(0, +)
        let sumSq = logits.map { Foundation.exp($0) / z }.map { $0 * $0 }.reduce(0, +)
        #expect(abs(Double(sq[0]) - Foundation.log(sumSq)) < 1e-5)
    }
}

import Foundation
extension Float {
    var cosine: Float { Foundation.cos(self) }
    var sine: Float { Foundation.sin(self) }
}
