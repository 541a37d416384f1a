import EASTCore
import Foundation

/// The trainable half of LoRA: every adapter matrix of a model, in ONE block
/// (and their gradients in another), like the base model's parameters.
///
/// Attach it with `model.adapter = adapter`. From then on the model's forward
/// adds the low-rank updates (training and cached sampling alike), backward
/// computes only the adapter's gradients (the base is frozen: no base weight
/// gradient is computed, which is where LoRA saves time), and a `Trainer`
/// built on the model steps only this block.
public final class LoRAAdapter: @unchecked Sendable {
    public let config: LoRAConfig
    /// The base model shape this adapter fits.
    public let modelConfig: ModelConfig
    public let layout: LoRALayout
    /// A and B of every target, at `layout` offsets.
    public let parameters: FloatBuffer
    /// dL/dparameters, same layout; `Transformer.backward` adds to it.
    public let gradients: FloatBuffer

    /// A zero adapter for `modelConfig`, to be filled (e.g. by loading).
    public init(config: LoRAConfig, modelConfig: ModelConfig) throws {
        try config.validate()
        try modelConfig.validate()
        self.config = config
        self.modelConfig = modelConfig
        layout = LoRALayout(config: config, modelConfig: modelConfig)
        parameters = FloatBuffer(count: layout.totalCount)
        gradients = FloatBuffer(count: layout.totalCount)
    }

    /// A fresh adapter initialised like PEFT: A ~ kaiming_uniform(a = sqrt(5)),
    /// i.e. U(-1/sqrt(in), 1/sqrt(in)), and B = 0, so that the adapted model
    /// starts out exactly equal to the base. The same seed gives the same A.
    public convenience init(config: LoRAConfig, modelConfig: ModelConfig, seed: UInt64) throws {
        try self.init(config: config, modelConfig: modelConfig)
        var rng = SeededGenerator(seed: seed)
        for layer in layout.layers {
            for case let m? in layer {
                let bound = 1 / Float(m.inFeatures).squareRoot()
                let a = parameters.at(m.a)
                for i in 0..<(config.rank * m.inFeatures) { a[i] = (rng.nextUnitFloat() * 2 - 1) * bound }
            }
        }
    }

    /// A copy of `base` with every adapter folded in, W' = W + scale * B A:
    /// an ordinary model, as fast as the base, for export or for sampling
    /// while the adapter is not being trained. (`Sampler` on a model with an
    /// attached adapter also works: the cached forward applies the adapter
    /// unmerged, so it always sees the adapter's current values.)
    public func merged(into base: Transformer) -> Transformer {
        precondition(base.config == modelConfig, "LoRA adapter built for another model shape")
        let model = base.copy()
        let r = config.rank
        for (l, layer) in layout.layers.enumerated() {
            for target in config.targets {
                let m = layer[target.index]!
                let w = model.parameters.at(model.layout.layers[l].offset(of: target))
                // W (out, in) += scale * B (out, r) A (r, in)
                Matmul.gemm(transA: false, transB: false, M: m.outFeatures, N: m.inFeatures, K: r,
                            alpha: config.scale, A: parameters.at(m.b), lda: r,
                            B: parameters.at(m.a), ldb: m.inFeatures, beta: 1, C: w, ldc: m.inFeatures)
            }
        }
        return model
    }

    public var parameterCount: Int { layout.totalCount }
}

/// Where each adapter matrix lives inside the adapter block, under PEFT's
/// tensor names (`base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight`),
/// so that saving is this table written out.
public struct LoRALayout: Sendable {
    /// One wrapped linear layer: offsets of its A (rank, in) and B (out, rank).
    public struct Module: Sendable {
        public let a: Int
        public let b: Int
        public let inFeatures: Int
        public let outFeatures: Int
    }

    /// Every tensor, A then B per module, layer by layer, in target order.
    /// All are matrices, so AdamW's weight decay (if any) applies to all.
    public let entries: [ParameterLayout.Entry]
    public let totalCount: Int
    /// layers[l][target.index]: the module, or nil where that target is not adapted.
    public let layers: [[Module?]]
    /// Entry index by tensor name.
    let index: [String: Int]

    init(config: LoRAConfig, modelConfig c: ModelConfig) {
        var entries: [ParameterLayout.Entry] = []
        var offset = 0
        func add(_ name: String, _ shape: [Int]) -> Int {
            let entry = ParameterLayout.Entry(name: name, shape: shape, offset: offset)
            entries.append(entry)
            offset += entry.count
            return entry.offset
        }
        var layers: [[Module?]] = []
        for l in 0..<c.layers {
            var modules = [Module?](repeating: nil, count: LoRATarget.allCases.count)
            for target in config.targets {
                let (out, inp) = target.shape(c)
                let prefix = Self.tensorPrefix(layer: l, target: target)
                let a = add(prefix + "lora_A.weight", [config.rank, inp])
                let b = add(prefix + "lora_B.weight", [out, config.rank])
                modules[target.index] = Module(a: a, b: b, inFeatures: inp, outFeatures: out)
            }
            layers.append(modules)
        }
        self.entries = entries
        self.layers = layers
        totalCount = offset
        index = Dictionary(uniqueKeysWithValues: entries.enumerated().map { ($1.name, $0) })
    }

    /// PEFT's name prefix for one module's adapter tensors.
    static func tensorPrefix(layer: Int, target: LoRATarget) -> String {
        "base_model.model.model.layers.\(layer).\(target.modulePath)."
    }
}

extension ParameterLayout.LayerOffsets {
    /// The offset of the weight a LoRA target wraps.
    func offset(of target: LoRATarget) -> Int {
        switch target {
        case .q: return q
        case .k: return k
        case .v: return v
        case .o: return o
        case .gate: return gate
        case .up: return up
        case .down: return down
        }
    }
}
