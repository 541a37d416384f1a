import Foundation

/// Rotary position embedding, Hugging Face Llama convention ("rotate_half"):
/// in each head, channel i is paired with channel i + headDim/2 (not with its
/// neighbour, as in the original paper), and the pair is rotated by the angle
/// position * frequency[i], where frequency[i] = theta^(-2i/headDim), or
/// that divided by Llama 3's scaling (`ModelConfig.ropeFrequencies`).
/// Queries and keys are rotated in place.
struct RoPE: Sendable {
    let headDim: Int
    let maxSeqLen: Int
    /// cos and sin of every (position, i) angle: (maxSeqLen, headDim/2), computed once.
    private let cosTable: [Float]
    private let sinTable: [Float]

    init(headDim: Int, maxSeqLen: Int, theta: Float) {
        self.init(headDim: headDim, maxSeqLen: maxSeqLen, frequencies: (0..<(headDim / 2)).map { i in
            pow(Double(theta), -2.0 * Double(i) / Double(headDim))
        })
    }

    /// frequencies: (headDim / 2)
    init(headDim: Int, maxSeqLen: Int, frequencies: [Double]) {
        precondition(frequencies.count == headDim / 2, "RoPE needs one frequency per channel pair")
        self.headDim = headDim
        self.maxSeqLen = maxSeqLen
        let half = headDim / 2
        var cosTable = [Float](repeating: 0, count: maxSeqLen * half)
        var sinTable = cosTable
        for p in 0..<maxSeqLen {
            for i in 0..<half {
                // Angles in Double: position * frequency reaches thousands of radians.
                let angle = Double(p) * frequencies[i]
                cosTable[p * half + i] = Float(cos(angle))
                sinTable[p * half + i] = Float(sin(angle))
            }
        }
        self.cosTable = cosTable
        self.sinTable = sinTable
    }

    /// Rotates x in place. x: (N, heads, headDim); token n sits at position
    /// `startPosition + n % T` (T tokens per sequence, sequences back to back).
    func forward(
        _ x: UnsafeMutablePointer<Float>, N: Int, T: Int, heads: Int, startPosition: Int = 0
    ) {
        rotate(x, N: N, T: T, heads: heads, startPosition: startPosition, sign: 1)
    }

    /// The rotation is orthogonal, so the gradient goes back through the
    /// inverse rotation (the same angle, negated). dx: (N, heads, headDim), in place.
    func backward(
        _ dx: UnsafeMutablePointer<Float>, N: Int, T: Int, heads: Int, startPosition: Int = 0
    ) {
        rotate(dx, N: N, T: T, heads: heads, startPosition: startPosition, sign: -1)
    }

    private func rotate(
        _ x: UnsafeMutablePointer<Float>, N: Int, T: Int, heads: Int, startPosition: Int, sign: Float
    ) {
        let half = headDim / 2
        cosTable.withUnsafeBufferPointer { cosTable in
            sinTable.withUnsafeBufferPointer { sinTable in
                for n in 0..<N {
                    let position = startPosition + n % T
                    precondition(position < maxSeqLen, "position \(position) beyond maxSeqLen \(maxSeqLen)")
                    let c = cosTable.baseAddress! + position * half
                    let s = sinTable.baseAddress! + position * half
                    for h in 0..<heads {
                        let v = x + (n * heads + h) * headDim
                        for i in 0..<half {
                            let x1 = v[i], x2 = v[i + half]
                            let sn = sign * s[i]
                            v[i] = x1 * c[i] - x2 * sn
                            v[i + half] = x2 * c[i] + x1 * sn
                        }
                    }
                }
            }
        }
    }
}
