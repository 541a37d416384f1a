import Foundation

/// AdamW (Loshchilov & Hutter): Adam with decoupled weight decay.
///   m = b1 m + (1-b1) g,  v = b2 v + (1-b2) g^2
///   p -= lr * (mhat / (sqrt(vhat) + eps) + wd * p)     (wd only on matrices)
/// Norm gains are not decayed: pulling them toward 0 would fight the normalisation.
public final class AdamW {
    public struct Settings: Codable, Sendable, Equatable {
        public var beta1: Float = 0.9
        public var beta2: Float = 0.95
        public var eps: Float = 1e-8
        public var weightDecay: Float = 0.0
        public init(beta1: Float = 0.9, beta2: Float = 0.95, eps: Float = 1e-8, weightDecay: Float = 0) {
            self.beta1 = beta1
            self.beta2 = beta2
            self.eps = eps
            self.weightDecay = weightDecay
        }
    }

    public var settings: Settings
    /// First and second moments, same layout as the parameters.
    public let m: FloatBuffer
    public let v: FloatBuffer
    /// Updates done so far (for bias correction and for resuming).
    public var step: Int = 0
    /// The tensors, to tell matrices (decayed) from norm gains (not decayed).
    private let entries: [ParameterLayout.Entry]

    public convenience init(layout: ParameterLayout, settings: Settings = Settings()) {
        self.init(entries: layout.entries, count: layout.totalCount, settings: settings)
    }

    /// AdamW over any block of `count` floats holding `entries`, e.g. a LoRA
    /// adapter's (`AdamW(entries: adapter.layout.entries, count: adapter.parameterCount)`).
    public init(entries: [ParameterLayout.Entry], count: Int, settings: Settings = Settings()) {
        self.settings = settings
        m = FloatBuffer(count: count)
        v = FloatBuffer(count: count)
        self.entries = entries
    }

    /// One update of `parameters` from `gradients` at learning rate `lr`.
    public func update(parameters: FloatBuffer, gradients: FloatBuffer, lr: Float) {
        step += 1
        let s = settings
        let correction1 = 1 - pow(s.beta1, Float(step))
        let correction2 = 1 - pow(s.beta2, Float(step))
        let p = parameters.pointer, g = gradients.pointer, m = m.pointer, v = v.pointer
        for entry in entries {
            let decay: Float = entry.isMatrix ? s.weightDecay : 0
            for i in entry.offset..<(entry.offset + entry.count) {
                m[i] = s.beta1 * m[i] + (1 - s.beta1) * g[i]
                v[i] = s.beta2 * v[i] + (1 - s.beta2) * g[i] * g[i]
                let mhat = m[i] / correction1
                let vhat = v[i] / correction2
                p[i] -= lr * (mhat / (vhat.squareRoot() + s.eps) + decay * p[i])
            }
        }
    }
}
