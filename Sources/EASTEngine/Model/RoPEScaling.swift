import Foundation

/// Llama 3's stretch of the rotary frequencies for long contexts
/// (`rope_scaling: {rope_type: llama3, ...}` in config.json), as transformers'
/// `_compute_llama3_parameters` defines it. With the original context length
/// L, a frequency f has wavelength w = 2π / f and becomes
///   f                          where w < L / highFreqFactor   (short waves: kept)
///   f / factor                 where w > L / lowFreqFactor    (long waves: slowed)
///   (1 - s) f / factor + s f   in between, s = (L / w - lowFreqFactor) / (highFreqFactor - lowFreqFactor)
/// Its attention scaling is 1, so only the frequencies change.
public struct RoPEScaling: Codable, Equatable, Sendable {
    public var factor: Double
    public var lowFreqFactor: Double
    public var highFreqFactor: Double
    /// L above: the context length the model was pretrained with.
    public var originalMaxPositions: Int

    public init(factor: Double, lowFreqFactor: Double, highFreqFactor: Double, originalMaxPositions: Int) {
        self.factor = factor
        self.lowFreqFactor = lowFreqFactor
        self.highFreqFactor = highFreqFactor
        self.originalMaxPositions = originalMaxPositions
    }

    /// Llama 3.1/3.2/3.3's values (their config.json), for GGUF files that
    /// carry only the `rope_freqs` tensor.
    public static func llama3(factor: Double, originalMaxPositions: Int = 8192) -> RoPEScaling {
        RoPEScaling(factor: factor, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: originalMaxPositions)
    }

    /// How much frequency `f` is divided by: 1 for short waves, `factor` for
    /// long ones. llama.cpp stores these as the `rope_freqs` tensor.
    public func divisor(frequency f: Double) -> Double {
        let L = Double(originalMaxPositions)
        let wavelength = 2 * Double.pi / f
        if wavelength < L / highFreqFactor { return 1 }
        if wavelength > L / lowFreqFactor { return factor }
        let s = (L / wavelength - lowFreqFactor) / (highFreqFactor - lowFreqFactor)
        return 1 / ((1 - s) / factor + s)
    }

    public func validate() throws {
        guard factor >= 1, lowFreqFactor > 0, highFreqFactor > lowFreqFactor, originalMaxPositions > 0 else {
            throw ModelConfigError(message: "llama3 rope scaling needs factor >= 1, 0 < low_freq_factor < high_freq_factor "
                + "and original_max_position_embeddings > 0 (got \(factor), \(lowFreqFactor), \(highFreqFactor), \(originalMaxPositions))")
        }
    }
}

extension ModelConfig {
    /// Frequency of each channel pair i < headDim / 2: theta^(-2i / headDim),
    /// divided by the Llama 3 scaling's divisor when there is one. In Double:
    /// the RoPE table multiplies them by positions in the thousands.
    public var ropeFrequencies: [Double] {
        (0..<(headDim / 2)).map { i in
            let f = pow(Double(ropeTheta), -2.0 * Double(i) / Double(headDim))
            return ropeScaling.map { f / $0.divisor(frequency: f) } ?? f
        }
    }
}
