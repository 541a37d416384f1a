import EASTCore

/// Which linear layers of a decoder layer get a LoRA adapter. Raw values are
/// the module names PEFT uses in `target_modules` and in tensor names.
public enum LoRATarget: String, CaseIterable, Codable, Sendable, Comparable {
    case q = "q_proj", k = "k_proj", v = "v_proj", o = "o_proj"
    case gate = "gate_proj", up = "up_proj", down = "down_proj"

    /// Position in `allCases`: indexes per-target arrays.
    var index: Int { Self.allCases.firstIndex(of: self)! }

    /// The module path inside a decoder layer (`self_attn.q_proj`, `mlp.up_proj`).
    var modulePath: String {
        switch self {
        case .q, .k, .v, .o: return "self_attn." + rawValue
        case .gate, .up, .down: return "mlp." + rawValue
        }
    }

    /// The wrapped weight's (out, in), as stored: y = x W^T.
    func shape(_ c: ModelConfig) -> (out: Int, in: Int) {
        switch self {
        case .q: return (c.qDim, c.dim)
        case .o: return (c.dim, c.qDim)
        case .k, .v: return (c.kvDim, c.dim)
        case .gate, .up: return (c.hiddenDim, c.dim)
        case .down: return (c.dim, c.hiddenDim)
        }
    }

    public static func < (a: LoRATarget, b: LoRATarget) -> Bool { a.index < b.index }
}

/// LoRA (Hu et al. 2021): a frozen weight W (out, in) plus a trained low-rank
/// update, y = x W^T + (alpha / rank) * (x A^T) B^T with A (rank, in), B (out, rank).
/// Same meaning as PEFT's `LoraConfig(r, lora_alpha, target_modules)`, no dropout, no bias.
public struct LoRAConfig: Equatable, Sendable {
    public var rank: Int
    public var alpha: Float
    /// Wrapped in every decoder layer; kept sorted and without repeats.
    public var targets: [LoRATarget]

    public init(rank: Int, alpha: Float, targets: [LoRATarget] = [.q, .v]) {
        self.rank = rank
        self.alpha = alpha
        self.targets = Array(Set(targets)).sorted()
    }

    /// alpha / rank: what the low-rank product is multiplied by.
    public var scale: Float { alpha / Float(rank) }

    public func validate() throws {
        guard rank > 0 else { throw ModelConfigError(message: "LoRA rank must be positive, not \(rank)") }
        guard !targets.isEmpty else { throw ModelConfigError(message: "LoRA needs at least one target module") }
    }
}

/// `{"rank": 16, "alpha": 32, "targets": ["q_proj", ...]}`: every key
/// required, no other key allowed (a spec's adapter is spelled out whole).
extension LoRAConfig: Codable {
    enum CodingKeys: String, CodingKey, CaseIterable { case rank, alpha, targets }

    public init(from decoder: Decoder) throws {
        try decoder.refuseUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(rank: try c.decode(Int.self, forKey: .rank), alpha: try c.decode(Float.self, forKey: .alpha),
                  targets: try c.decode([LoRATarget].self, forKey: .targets))
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(rank, forKey: .rank)
        try c.encode(alpha, forKey: .alpha)
        try c.encode(targets, forKey: .targets)
    }
}
