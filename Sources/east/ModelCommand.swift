import ArgumentParser
import EASTCommandLine
import EASTCore
import EASTEngine
import Foundation

/// `east model ...`: look into a checkpoint (config, tokenizer, logits,
/// samples) and create random ones to try things on.
struct ModelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "Inspect, run and create transformer checkpoints.",
        subcommands: [Info.self, Tokenize.self, Generate.self, Logits.self, Init.self, Quantize.self])
}

/// A model ready to run, from either kind of file: what the commands below use.
struct LoadedModel {
    let model: Transformer
    let tokenizer: (any Tokenizer)?
    let specials: LlamaConfigFile.SpecialTokens
    /// Chat template of a GGUF chat model or a Hugging Face instruct folder (nil for our checkpoints).
    let chatTemplate: ChatTemplate?
    /// Whether a text prompt starts with BOS (a GGUF says so in tokenizer.ggml.add_bos_token).
    let addBOS: Bool
}

/// Options every command that reads a model takes: a checkpoint directory or a GGUF file.
struct CheckpointOptions: ParsableArguments {
    @Option(help: "Checkpoint directory (config.json, model.safetensors, tokenizer.json).")
    var checkpoint: String?

    @Option(help: "A llama.cpp GGUF file, e.g. models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf (F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K: quantized matrices keep their codes for the integer decode kernels).")
    var model: String?

    @Flag(help: "Print JSON instead of text.")
    var json = false

    @Option(help: "Threads for the engine (matrix products and parallel loops).")
    var threads = 1

    func validate() throws {
        if let checkpoint, checkpoint.lowercased().hasSuffix(".gguf") {
            throw ValidationError("--checkpoint takes a checkpoint directory; \(checkpoint) is a GGUF file: give it with --model \(checkpoint)")
        }
        guard (checkpoint == nil) != (model == nil) else {
            throw ValidationError("give exactly one of --checkpoint DIR and --model FILE.gguf")
        }
    }

    func load() throws -> LoadedModel {
        relaunchWithFasterBLASKernelsIfNeeded()
        BLASThreads.set(threads)
        return try failing {
            if let model {
                let loaded = try GGUFModel.load(from: URL(fileURLWithPath: model))
                let t = loaded.tokenizer
                return LoadedModel(
                    model: loaded.model, tokenizer: t,
                    specials: .init(bos: t?.bosId ?? 1, eos: t?.eosId ?? 2, pad: t?.padId ?? 0),
                    chatTemplate: loaded.chatTemplate,
                    addBOS: loaded.file.metadata["tokenizer.ggml.add_bos_token"]?.boolValue ?? false)
            }
            let loaded = try Checkpoint.load(from: URL(fileURLWithPath: checkpoint!))
            return LoadedModel(model: loaded.model, tokenizer: loaded.tokenizer, specials: loaded.specials,
                               chatTemplate: loaded.chatTemplate, addBOS: true)
        }
    }
}

/// A prompt given as text (encoded with BOS in front) or as raw ids.
struct PromptOptions: ParsableArguments {
    @Option(help: "Prompt text (BOS is prepended, except for a GGUF model that does not want it).")
    var prompt: String?

    @Flag(help: "Wrap --prompt in the model's chat template (GGUF chat models, e.g. SmolLM2-Instruct).")
    var chat = false

    @Option(help: "System message for --chat (default: the model's own).")
    var system: String?

    @Option(name: .customLong("prompt-ids"), help: "Prompt as comma-separated token ids, e.g. 1,2,3 (used as is).")
    var promptIds: String?

    func tokens(_ loaded: LoadedModel) throws -> [Int] {
        let vocab = loaded.model.config.vocabSize
        var ids: [Int]
        switch (prompt, promptIds) {
        case (nil, let list?):
            ids = try list.split(separator: ",").map {
                guard let id = Int($0.trimmingCharacters(in: .whitespaces)) else {
                    throw ValidationError("--prompt-ids: '\($0)' is not an integer")
                }
                return id
            }
        case (let text?, nil):
            guard let tokenizer = loaded.tokenizer else {
                throw ValidationError("the model has no tokenizer (no tokenizer.json, or a GGUF without tokenizer.ggml.tokens); use --prompt-ids")
            }
            if chat {
                guard let template = loaded.chatTemplate else {
                    throw ValidationError("--chat needs a chat model: a GGUF file or a Hugging Face instruct folder with a chat template")
                }
                ids = tokenizer.encode(template.prompt(user: text, system: system))
            } else {
                ids = (loaded.addBOS ? [tokenizer.bosId] : []) + tokenizer.encode(text)
            }
        default:
            throw ValidationError("give exactly one of --prompt and --prompt-ids")
        }
        guard !ids.isEmpty else { throw ValidationError("the prompt is empty") }
        if let bad = ids.first(where: { $0 < 0 || $0 >= vocab }) {
            throw ValidationError("token id \(bad) is outside the vocabulary (0..<\(vocab))")
        }
        guard ids.count < loaded.model.config.maxSeqLen else {
            throw ValidationError("the prompt has \(ids.count) tokens; the model holds \(loaded.model.config.maxSeqLen)")
        }
        return ids
    }
}

func printJSON<T: Encodable>(_ value: T) throws {
    print(try JSONCoding.string(value, pretty: true))
}

/// The text of `ids`, when the checkpoint has a tokenizer.
func decodedText(_ tokenizer: (any Tokenizer)?, _ ids: [Int]) -> String? { tokenizer?.decode(ids) }

extension ModelCommand {
    struct Info: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a checkpoint's config and size.")
        @OptionGroup var options: CheckpointOptions

        struct Output: Encodable {
            let config: ModelConfig
            let parameters: Int
            let tokenizerVocabSize: Int?
            let bos, eos, pad: Int
        }

        func run() throws {
            let loaded = try options.load()
            let c = loaded.model.config
            let out = Output(config: c, parameters: loaded.model.parameterCount,
                             tokenizerVocabSize: loaded.tokenizer?.vocabSize,
                             bos: loaded.specials.bos, eos: loaded.specials.eos, pad: loaded.specials.pad)
            if options.json { return try printJSON(out) }
            print("parameters   \(out.parameters)")
            print("vocab        \(c.vocabSize)   (tokenizer: \(out.tokenizerVocabSize.map(String.init) ?? "none"))")
            print("dim          \(c.dim)   layers \(c.layers)   heads \(c.heads)   kv heads \(c.kvHeads)   hidden \(c.hiddenDim)")
            print("rope theta   \(c.ropeTheta)   rms eps \(c.rmsNormEps)   tied \(c.tiedEmbeddings)   max seq \(c.maxSeqLen)")
            print("family       " + (c.attentionBias ? "qwen2 (q/k/v biases)" : "llama")
                  + (c.ropeScaling.map { "   rope llama3 factor \($0.factor) low \($0.lowFreqFactor) high \($0.highFreqFactor) "
                      + "original \($0.originalMaxPositions)" } ?? ""))
            print("bos \(out.bos)   eos \(out.eos)   pad \(out.pad)")
        }
    }

    struct Tokenize: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the token ids of --text (no BOS).")
        @OptionGroup var options: CheckpointOptions
        @Option(help: "Text to encode.") var text: String

        func run() throws {
            let loaded = try options.load()
            guard let tokenizer = loaded.tokenizer else {
                throw ValidationError("the model has no tokenizer (no tokenizer.json, or a GGUF without tokenizer.ggml.tokens)")
            }
            let ids = tokenizer.encode(text)
            if options.json { return try printJSON(["ids": ids]) }
            print(ids.map(String.init).joined(separator: ","))
        }
    }

    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Sample continuations of a prompt.")
        @OptionGroup var options: CheckpointOptions
        @OptionGroup var promptOptions: PromptOptions
        @Option(help: "Number of samples (they share one prefill).") var n = 1
        @Option(help: "Sampling temperature; 0 is greedy.") var temperature: Float = 1
        @Option(name: .customLong("top-k"), help: "Keep the k most likely tokens (0: all).") var topK = 0
        @Option(name: .customLong("top-p"), help: "Nucleus sampling mass (1: all).") var topP: Float = 1
        @Option(name: .customLong("max-tokens"), help: "Most new tokens per sample.") var maxTokens = 64
        @Option(help: "Random seed; the same seed gives the same samples.") var seed: UInt64 = 0

        struct Output: Encodable {
            let text: String?
            let ids: [Int]
            let logProbs: [Float]
            let stopped: Bool
        }

        func validate() throws {
            guard n >= 1 && n <= 256 else { throw ValidationError("--n must be in 1...256") }
            guard temperature >= 0 && topK >= 0 && topP > 0 && topP <= 1 && maxTokens >= 1 else {
                throw ValidationError("need --temperature >= 0, --top-k >= 0, 0 < --top-p <= 1, --max-tokens >= 1")
            }
        }

        func run() throws {
            let loaded = try options.load()
            let prompt = try promptOptions.tokens(loaded)
            let sampler = Sampler(model: loaded.model, maxRows: n,
                                  maxSequenceLength: min(loaded.model.config.maxSeqLen, prompt.count + maxTokens))
            // A chat answer ends with the template's end of turn (<|im_end|>, <|eot_id|>)
            // or an end-of-text token (for SmolLM2 <|im_end|> is also its EOS).
            var stops = [loaded.specials.eos]
            if promptOptions.chat, let bpe = loaded.tokenizer as? ByteLevelBPETokenizer, let template = loaded.chatTemplate {
                for end in template.stopTokens.compactMap(bpe.id(of:)) where !stops.contains(end) { stops.append(end) }
            }
            let parameters = SamplingParameters(temperature: temperature, topK: topK, topP: topP, maxNewTokens: maxTokens,
                                                stopTokens: stops, seed: seed)
            let samples = sampler.generate(prompt: prompt, n: n, parameters: parameters)
            let out = samples.map {
                Output(text: decodedText(loaded.tokenizer, $0.tokens), ids: $0.tokens, logProbs: $0.logProbs, stopped: $0.stopped)
            }
            if options.json {
                struct Result: Encodable { let prompt: [Int]; let samples: [Output] }
                return try printJSON(Result(prompt: prompt, samples: out))
            }
            print("prompt ids: \(prompt.map(String.init).joined(separator: ","))")
            for (i, s) in out.enumerated() {
                print("[\(i)] \(s.text.map { "\"\($0)\"" } ?? "(no tokenizer)")")
                print("    ids: \(s.ids.map(String.init).joined(separator: ","))\(s.stopped ? "" : "  (max tokens)")")
            }
        }
    }

    struct Logits: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the most likely next tokens after a prompt.")
        @OptionGroup var options: CheckpointOptions
        @OptionGroup var promptOptions: PromptOptions
        @Option(help: "How many next tokens to list.") var top = 10

        struct Entry: Encodable {
            let id: Int
            let text: String
            let logProb: Float
        }

        func run() throws {
            let loaded = try options.load()
            let prompt = try promptOptions.tokens(loaded)
            let sampler = Sampler(model: loaded.model, maxRows: 1, maxSequenceLength: prompt.count)
            let logProbs = sampler.nextTokenLogProbs(prompt: prompt)
            let best = logProbs.indices.sorted { logProbs[$0] > logProbs[$1] }.prefix(max(1, top))
            let entries = best.map {
                Entry(id: $0, text: loaded.tokenizer?.tokenText($0) ?? "<\($0)>", logProb: logProbs[$0])
            }
            if options.json {
                struct Output: Encodable { let prompt: [Int]; let next: [Entry] }
                return try printJSON(Output(prompt: prompt, next: entries))
            }
            print("prompt ids: \(prompt.map(String.init).joined(separator: ","))")
            for e in entries {
                print(String(format: "%6d  %-12@  %9.4f", e.id, "\"\(e.text)\"" as NSString, e.logProb))
            }
        }
    }

    struct Init: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a randomly initialised checkpoint with a character tokenizer.")
        @Option(help: "Output directory.") var out: String
        @Option(help: "Characters of the tokenizer's alphabet.")
        var alphabet = " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~\n"
        @Option(help: "Vocabulary size (default: the tokenizer's).") var vocab: Int?
        @Option(help: "Model width.") var dim = 64
        @Option(help: "Decoder layers.") var layers = 2
        @Option(help: "Attention heads.") var heads = 4
        @Option(name: .customLong("kv-heads"), help: "Key/value heads (default: heads).") var kvHeads: Int?
        @Option(help: "SwiGLU width (default: 8/3 dim rounded up to 32).") var hidden: Int?
        @Option(name: .customLong("max-seq-len"), help: "Longest sequence.") var maxSeqLen = 512
        @Option(name: .customLong("rope-theta")) var ropeTheta: Float = 10_000
        @Flag(help: "Separate output head (lm_head.weight) instead of tied embeddings.") var untied = false
        @Option(help: "Initialisation seed.") var seed: UInt64 = 0

        func run() throws {
            let tokenizer = CharacterTokenizer(covering: alphabet)
            let config = ModelConfig(
                vocabSize: vocab ?? tokenizer.vocabSize, dim: dim, layers: layers, heads: heads,
                kvHeads: kvHeads ?? heads, hiddenDim: hidden ?? ((dim * 8 / 3 + 31) / 32 * 32),
                ropeTheta: ropeTheta, tiedEmbeddings: !untied, maxSeqLen: maxSeqLen)
            guard config.vocabSize >= tokenizer.vocabSize else {
                throw ValidationError("--vocab \(config.vocabSize) is smaller than the tokenizer's \(tokenizer.vocabSize)")
            }
            try failing {
                let model = try Transformer(config: config, seed: seed)
                try Checkpoint.save(model, tokenizer: tokenizer, to: URL(fileURLWithPath: out))
                print("wrote \(out): \(model.parameterCount) parameters")
            }
        }
    }
}

extension ModelCommand {
    struct Quantize: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a GGUF model's copy with its matrices in another type or llama.cpp's Q4_K_M / Q5_K_M mix.")
        @Option(help: "The GGUF file to read.") var model: String
        @Option(help: ArgumentHelp("The mix or type: \(QuantizationMix.names.joined(separator: ", ")).", valueName: "type"))
        var type: String
        @Option(help: "The GGUF file to write.") var out: String

        func validate() throws {
            guard QuantizationMix(name: type) != nil else {
                throw ValidationError("unknown --type \(type); known: \(QuantizationMix.names.joined(separator: ", "))")
            }
        }

        func run() throws {
            let mix = QuantizationMix(name: type)!
            let (data, types) = try failing {
                let file = try GGUFFile(url: URL(fileURLWithPath: model))
                return try file.quantizedCopy(mix: mix)
            }
            try failing { try data.write(to: URL(fileURLWithPath: out)) }
            let counts = types.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.value) \($0.key.name)" }
            print("\(out): \(data.count) bytes; tensors: \(counts.joined(separator: ", "))")
        }
    }
}
