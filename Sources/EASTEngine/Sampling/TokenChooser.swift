import CKernels
import EASTCore
import Foundation

/// Picks one token from a row of logits: greedy, or temperature sampling with
/// optional top-k and top-p (nucleus) truncation.
///
/// Top-k and top-p are applied by finding a probability threshold with a
/// binary search (count or mass of the tokens at or above it) instead of
/// sorting the vocabulary: no allocation and O(V) per pass.
struct TokenChooser {
    /// Scratch of vocab size for the tempered probabilities.
    private var probs: [Float]

    init(vocabSize: Int) { probs = [Float](repeating: 0, count: vocabSize) }

    /// Returns the token and its log-prob under softmax(logits) (temperature 1, untruncated).
    mutating func choose(
        _ logits: UnsafePointer<Float>, V: Int, parameters s: SamplingParameters, rng: inout SeededGenerator
    ) -> (token: Int, logProb: Float) {
        let best = east_argmax(logits, V), maxLogit = logits[best]
        return probs.withUnsafeMutableBufferPointer { buffer -> (Int, Float) in
            let p = buffer.baseAddress!
            // log Z of the temperature-1 distribution, for the returned log-prob
            // (p is scratch here; at temperature 1 the tempered sum below is the same)
            let logZ = s.temperature == 1 ? 0 : maxLogit + log(east_exp_sum(p, logits, V, maxLogit, 1))
            if s.temperature <= 0 { return (best, logits[best] - logZ) }
            let total = east_exp_sum(p, logits, V, maxLogit, 1 / s.temperature)
            let temperatureOneLogZ = s.temperature == 1 ? maxLogit + log(total) : logZ
            let token = Self.draw(p, V: V, best: best, parameters: s, rng: &rng)
            return (token, logits[token] - temperatureOneLogZ)
        }
    }

    /// Draws from the tempered weights p (unnormalized) after top-k and top-p truncation.
    private static func draw(
        _ p: UnsafeMutablePointer<Float>, V: Int, best: Int, parameters s: SamplingParameters, rng: inout SeededGenerator
    ) -> Int {
        // threshold: keep tokens with p >= tau
        var tau: Float = 0
        if s.topK > 0 && s.topK < V {
            tau = Self.largestThreshold(p, V: V, top: 1) { count, _ in count >= Float(s.topK) }
        }
        if s.topP < 1 {
            let target = s.topP * Self.kept(p, V: V, tau: tau).mass
            tau = max(tau, Self.largestThreshold(p, V: V, top: 1, floor: tau) { _, mass in mass >= target })
        }
        let token = east_draw(p, V, tau, rng.nextUnitFloat() * Self.kept(p, V: V, tau: tau).mass)
        return token >= 0 ? token : best
    }

    /// The largest tau in (floor, top] such that `ok(count, mass)` holds for
    /// the tokens with p >= tau, found by 40 halvings (ties stay together).
    private static func largestThreshold(
        _ p: UnsafeMutablePointer<Float>, V: Int, top: Float, floor: Float = 0, ok: (Float, Float) -> Bool
    ) -> Float {
        var low = floor, high = top  // ok(low) holds, ok(high) may not
        for _ in 0..<40 {
            let mid = (low + high) / 2
            let (count, mass) = Self.kept(p, V: V, tau: mid)
            if ok(count, mass) { low = mid } else { high = mid }
        }
        return low
    }

    /// How many weights are >= tau, and their sum.
    private static func kept(_ p: UnsafePointer<Float>, V: Int, tau: Float) -> (count: Float, mass: Float) {
        var count: Float = 0, mass: Float = 0
        east_kept(p, V, tau, &count, &mass)
        return (count, mass)
    }
}
