import EASTCore
import EASTEngine
import Foundation

/// How a question becomes the model's prompt, and where its answer ends.
///
/// - `plain` (the embedded model): `Question: ...\nAnswer:`; the model writes
///   its worked solution after one space, ending in `#### N` and <eos>.
/// - `chat` (instruct models: SmolLM2, Qwen2.5, Llama 3.x): the model's chat template with
///   the paper's system message, the question as the user turn; the answer
///   ends at the template's end-of-turn token.
public struct PromptFormat: Sendable {
    public enum Style: Sendable {
        case plain
        case chat(ChatTemplate, system: String, endOfTurn: Int)
    }

    /// The system message of the EAST paper's prompts.
    public static let paperSystem = "Please reason step by step, and put your final answer within \\boxed{}."

    public var style: Style

    public init(style: Style = .plain) {
        self.style = style
    }

    public func prompt(_ question: String, tokenizer: any Tokenizer) -> [Int] {
        switch style {
        case .plain: return [tokenizer.bosId] + tokenizer.encode("Question: \(question)\nAnswer:")
        case let .chat(template, system, _): return tokenizer.encode(template.prompt(user: question, system: system))
        }
    }

    /// The tokens a response contributes to training, its stop token included.
    public func completion(_ response: String, tokenizer: any Tokenizer) -> [Int] {
        switch style {
        case .plain: return tokenizer.encode(" " + response) + [tokenizer.eosId]
        case let .chat(_, _, endOfTurn): return tokenizer.encode(response) + [endOfTurn]
        }
    }

    /// Tokens that end a response.
    public func stopTokens(_ tokenizer: any Tokenizer) -> [Int] {
        switch style {
        case .plain: return [tokenizer.eosId]
        case let .chat(template, _, endOfTurn):
            // the template's end-of-text tokens too (<|endoftext|>, <|end_of_text|>), once each
            let others = template.stopTokens.compactMap { (tokenizer as? ByteLevelBPETokenizer)?.id(of: $0) }
            var stops: [Int] = []
            for id in [endOfTurn, tokenizer.eosId] + others where !stops.contains(id) { stops.append(id) }
            return stops
        }
    }

    /// The same format with another system message (plain prompts have none).
    public func with(system: String) -> PromptFormat {
        guard case let .chat(template, _, endOfTurn) = style else { return self }
        return PromptFormat(style: .chat(template, system: system, endOfTurn: endOfTurn))
    }

    /// What the format is, for run records and content addresses.
    public var description: String {
        switch style {
        case .plain: return "plain: \"Question: <question>\\nAnswer:\""
        case let .chat(template, system, _): return "chat \(template.format.rawValue), system: \"\(system)\""
        }
    }

    /// The response text of generated tokens (stop tokens are not part of it).
    public func response(_ tokens: [Int], tokenizer: any Tokenizer) -> String {
        let stops = stopTokens(tokenizer)
        let text = tokenizer.decode(tokens.filter { !stops.contains($0) })
        if case .plain = style, text.hasPrefix(" ") { return String(text.dropFirst()) }
        return text
    }
}

/// A model with its tokenizer and prompt format: what samplers, trainers and
/// evaluators pass around. Its `version` counts training iterations
/// (0 = the starting model).
public final class Policy: @unchecked Sendable {
    public let model: Transformer
    public let tokenizer: any Tokenizer
    public private(set) var format: PromptFormat
    public var version: Int
    /// Where the frozen base lives when the policy trains through a LoRA
    /// adapter (a GGUF file or checkpoint folder); saved policies point at it.
    public var basePath: URL?

    public init(model: Transformer, tokenizer: any Tokenizer, format: PromptFormat = PromptFormat(), version: Int = 0) {
        self.model = model
        self.tokenizer = tokenizer
        self.format = format
        self.version = version
    }

    /// Loads a policy from
    /// - a path ending in `.gguf`: an instruct model with its BPE tokenizer
    ///   and chat template (ChatML or Llama 3's);
    /// - a folder with `base.json`: that base plus the folder's LoRA adapter
    ///   (what `save` writes for an adapter-trained policy);
    /// - a checkpoint folder, which must hold a tokenizer; a Hugging Face
    ///   instruct folder's chat template (tokenizer_config.json) is used.
    /// With `lora`, a fresh adapter is attached: training then updates only
    /// the adapter and the base stays frozen.
    /// `base` stands in for the path in a folder's `base.json` (the policy
    /// store's copy of the base, on a host that lacks that path).
    public static func load(from path: URL, version: Int = 0, lora: LoRAConfig? = nil, seed: UInt64 = 1, base: URL? = nil) throws -> Policy {
        let policy: Policy
        let baseFile = path.appendingPathComponent(Self.baseFile)
        if path.pathExtension == "gguf" {
            let loaded = try GGUFModel.load(from: path)
            guard let tokenizer = loaded.tokenizer, let endOfTurn = tokenizer.id(of: loaded.chatTemplate.endOfTurn) else {
                throw CheckpointError(file: path, message: "no BPE tokenizer with \(loaded.chatTemplate.endOfTurn) in the GGUF metadata")
            }
            policy = Policy(model: loaded.model, tokenizer: tokenizer,
                            format: PromptFormat(style: .chat(loaded.chatTemplate, system: PromptFormat.paperSystem, endOfTurn: endOfTurn)),
                            version: version)
        } else if FileManager.default.fileExists(atPath: baseFile.path) {
            guard let data = FileManager.default.contents(atPath: baseFile.path) else {
                throw CheckpointError(file: baseFile, message: "cannot be read")
            }
            let named: BaseFile
            do { named = try JSONCoding.decode(BaseFile.self, from: data, what: baseFile.path) } catch {
                throw CheckpointError(file: baseFile, message: error.reason)
            }
            let basePath = base ?? URL(fileURLWithPath: named.base)
            policy = try load(from: basePath, version: version)
            policy.model.adapter = try LoRAAdapter.load(from: path, modelConfig: policy.model.config)
            policy.basePath = basePath
            return policy
        } else {
            let loaded = try Checkpoint.load(from: path)
            guard let tokenizer = loaded.tokenizer else {
                throw CheckpointError(file: path.appendingPathComponent(Checkpoint.tokenizerFile), message: "missing: a policy needs its tokenizer")
            }
            // a Hugging Face instruct folder (tokenizer_config.json's chat template) prompts in its chat format
            if let template = loaded.chatTemplate, let bpe = tokenizer as? ByteLevelBPETokenizer,
               let endOfTurn = bpe.id(of: template.endOfTurn) {
                policy = Policy(model: loaded.model, tokenizer: tokenizer,
                                format: PromptFormat(style: .chat(template, system: PromptFormat.paperSystem, endOfTurn: endOfTurn)),
                                version: version)
            } else {
                policy = Policy(model: loaded.model, tokenizer: tokenizer, version: version)
            }
        }
        if let lora {
            policy.model.adapter = try LoRAAdapter(config: lora, modelConfig: policy.model.config, seed: seed)
            policy.basePath = path
        }
        if let bad = policy.model.firstNonFinite() {
            throw CheckpointError(file: path, message: "tensor \(bad.tensor) holds a non-finite value (\(bad.value)) at element \(bad.index): "
                                  + "a model with NaN or infinite weights would sample garbage")
        }
        return policy
    }

    /// Names the frozen base of an adapter-trained policy folder.
    public static let baseFile = "base.json"

    /// `base.json`: where an adapter's frozen base lives.
    struct BaseFile: Codable { var base: String }

    /// Saves the policy: a checkpoint folder, or, for a model trained through
    /// a LoRA adapter, the adapter in PEFT's files plus `base.json` naming the
    /// frozen base (which is not copied).
    public func save(to directory: URL) throws {
        if let adapter = model.adapter {
            guard let basePath else {
                throw CheckpointError(file: directory, message: "an adapter policy needs its base path to be saved")
            }
            try adapter.save(to: directory, baseModel: basePath.lastPathComponent)
            try AtomicFile.write(try JSONCoding.encode(BaseFile(base: basePath.path), pretty: true), to: directory.appendingPathComponent(Self.baseFile))
        } else {
            if case .chat = format.style {
                // A checkpoint folder has no place for the chat template yet.
                throw CheckpointError(file: directory, message: "saving a fully trained instruct model is not supported; train it with --lora-rank")
            }
            try Checkpoint.save(model, tokenizer: tokenizer, to: directory)
        }
    }

    /// The longest sequence (prompt and response) the samplers decode: the
    /// model's window, at most 512 tokens.
    public var window: Int { min(512, model.config.maxSeqLen) }

    /// A sampler for this policy holding `rows` sequences at once.
    public func sampler(rows: Int) -> Sampler {
        Sampler(model: model, maxRows: rows, maxSequenceLength: window)
    }

    /// The questions whose prompt leaves no room for a response in the
    /// window. The rule for them: they are answered with empty responses, so
    /// they count as wrong in evaluations and are never trained on (all their
    /// samples are wrong); the run says how many there are.
    public func overlong(_ questions: [Question]) -> [Question] {
        questions.filter { format.prompt($0.text, tokenizer: tokenizer).count >= window }
    }

    /// The content address of what this policy samples: SHA-256 of its
    /// configuration and weights (an attached adapter's too), its tokenizer's
    /// vocabulary and its prompt format (system message included). Computed
    /// each time (training changes the weights in place): about a second per
    /// 500 MB of weights.
    public func fingerprint() -> String {
        var hasher = SHA256.Hasher()
        hasher.update((try? JSONCoding.string(model.config)) ?? "")
        let parameters = model.parameters
        hasher.update(UnsafeRawBufferPointer(start: parameters.pointer, count: parameters.count * MemoryLayout<Float>.stride))
        if let adapter = model.adapter {
            hasher.update((try? JSONCoding.string(adapter.config)) ?? "")
            hasher.update(UnsafeRawBufferPointer(start: adapter.parameters.pointer, count: adapter.parameters.count * MemoryLayout<Float>.stride))
        }
        hasher.update("tokenizer \(tokenizer.vocabSize) \(tokenizer.bosId) \(tokenizer.eosId) \(tokenizer.padId)")
        for id in 0..<tokenizer.vocabSize {
            let text = tokenizer.tokenText(id)
            hasher.update("\(text.utf8.count):\(text)")
        }
        hasher.update(format.description)
        return hasher.finish()
    }

    /// The policy prompting as `spec` says (its system message).
    public func adopt(_ spec: RunSpec) {
        format = format.with(system: spec.systemPrompt)
    }

    /// The policy as one plain model: an attached adapter folded into a copy
    /// of the base (DPO and KTO's frozen reference).
    public func frozenModel() -> Transformer {
        model.adapter.map { $0.merged(into: model) } ?? model.copy()
    }
}
