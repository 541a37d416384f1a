import EASTCore
import Foundation

/// A Llama-style decoder: config, parameter layout, and the one parameter block.
///
/// The forward and backward passes are in `ForwardBackward.swift`; cached
/// inference for sampling is in `Sampling/`; saving and loading in `Checkpoints/`.
public final class Transformer: @unchecked Sendable {
    public let config: ModelConfig
    public let layout: ParameterLayout
    let rope: RoPE
    /// All parameters, tensors at `layout` offsets. After writing to them
    /// yourself, call `parametersDidChange()` (a `Trainer` does): samplers
    /// keep a packed copy and refresh it only when the version moves.
    public let parameters: FloatBuffer
    /// Counts changes to `parameters` (as PyTorch counts in-place writes to a tensor).
    public private(set) var parameterVersion = 0
    /// Tells samplers of this model that `parameters` changed (and drops
    /// the quantized codes, which no longer describe them).
    public func parametersDidChange() {
        parameterVersion += 1
        quantized = nil
    }
    /// The quantized codes its matrices were loaded from (a GGUF file), or
    /// nil; samplers decode from them while the parameters are as loaded.
    public internal(set) var quantized: QuantizedMatrices?
    /// dL/dparameters, same layout. Allocated on first use, so models that only
    /// sample (or serve as the frozen reference) do not pay for it.
    public private(set) lazy var gradients = FloatBuffer(count: layout.totalCount)
    /// A LoRA adapter for this model's shape, or nil. While attached, forward
    /// (training and cached) adds its low-rank updates, backward adds only to
    /// the adapter's gradients (the base is frozen and `gradients` untouched),
    /// and a `Trainer` created on this model steps only the adapter.
    public var adapter: LoRAAdapter? {
        didSet {
            precondition(adapter.map { $0.modelConfig == config } ?? true,
                         "LoRA adapter built for another model shape")
        }
    }

    /// A model holding the given parameters (e.g. read from a checkpoint).
    public init(config: ModelConfig, parameters: FloatBuffer) throws {
        try config.validate()
        self.config = config
        layout = ParameterLayout(config: config)
        guard parameters.count == layout.totalCount else {
            throw ModelConfigError(message:
                "\(parameters.count) parameters given, the config needs \(layout.totalCount)")
        }
        // The table covers the positions the engine can reach (its windows are far shorter), not a file's whole context.
        rope = RoPE(headDim: config.headDim, maxSeqLen: min(config.maxSeqLen, Self.positionTable), frequencies: config.ropeFrequencies)
        self.parameters = parameters
    }

    /// A freshly initialised model: matrices ~ N(0, 0.02^2) (Hugging Face's
    /// `initializer_range`), norm gains 1, biases 0. The same seed gives the same model.
    public convenience init(config: ModelConfig, seed: UInt64) throws {
        try config.validate()  // before its numbers size anything
        let layout = ParameterLayout(config: config)
        let parameters = FloatBuffer(count: layout.totalCount)
        var rng = SeededGenerator(seed: seed)
        for entry in layout.entries {
            let p = parameters.at(entry.offset)
            if entry.isMatrix {
                var i = 0
                while i < entry.count {
                    let (a, b) = Self.standardNormalPair(&rng)
                    p[i] = 0.02 * a
                    if i + 1 < entry.count { p[i + 1] = 0.02 * b }
                    i += 2
                }
            } else {
                for i in 0..<entry.count { p[i] = entry.isBias ? 0 : 1 }
            }
        }
        try self.init(config: config, parameters: parameters)
    }

    /// An independent copy of the parameters, e.g. the frozen reference model
    /// of DPO/KTO. The copy has no adapter (see `LoRAAdapter.merged(into:)`).
    public func copy() -> Transformer {
        let block = FloatBuffer(count: parameters.count)
        block.copy(from: parameters)
        return try! Transformer(config: config, parameters: block)
    }

    public var parameterCount: Int { layout.totalCount }

    /// The most positions the RoPE table holds (sampling windows are 512, training sequences shorter than that plus a response).
    public static let positionTable = 32_768

    /// The first NaN or infinity among the parameters (and an attached
    /// adapter's), with its tensor: weights read from a file are checked
    /// before anything samples from them.
    public func firstNonFinite() -> (tensor: String, index: Int, value: Float)? {
        func scan(_ entries: [ParameterLayout.Entry], _ values: UnsafeMutablePointer<Float>) -> (String, Int, Float)? {
            for e in entries {
                for i in 0..<e.count where !values[e.offset + i].isFinite { return (e.name, i, values[e.offset + i]) }
            }
            return nil
        }
        return scan(layout.entries, parameters.pointer) ?? adapter.flatMap { scan($0.layout.entries, $0.parameters.pointer) }
    }

    /// Zeroes what backward adds to: the adapter's gradients when one is
    /// attached, else the model's.
    public func zeroGradients() {
        if let adapter { adapter.gradients.zero() } else { gradients.zero() }
    }

    /// The named tensor's values (a copy).
    public func tensor(_ name: String) -> [Float]? {
        layout[name].map { parameters.slice($0.offset, $0.count) }
    }

    /// Box-Muller: two independent N(0, 1) draws from two uniform ones.
    static func standardNormalPair(_ rng: inout SeededGenerator) -> (Float, Float) {
        let u1 = max(rng.nextUnitDouble(), 1e-300)
        let u2 = rng.nextUnitDouble()
        let radius = (-2 * log(u1)).squareRoot(), angle = 2 * Double.pi * u2
        return (Float(radius * cos(angle)), Float(radius * sin(angle)))
    }
}
