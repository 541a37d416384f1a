import EASTCore
import Foundation

/// A checkpoint directory, laid out like a Hugging Face model folder:
///   config.json            LlamaConfig keys (`LlamaConfigFile`)
///   model.safetensors      parameters under HF Llama names (no lm_head when tied); we read
///                          sharded ones too (model.safetensors.index.json + model-0000x-of-0000y)
///   tokenizer.json         the tokenizer (`TokenizerFile`), when there is one
///   optimizer.safetensors  AdamW moments + step, for resuming training (optional)
/// Every file is written atomically.
public enum Checkpoint {
    public static let configFile = "config.json"
    public static let modelFile = "model.safetensors"
    public static let modelIndexFile = "model.safetensors.index.json"
    public static let tokenizerFile = "tokenizer.json"
    public static let optimizerFile = "optimizer.safetensors"

    public struct Loaded {
        public let model: Transformer
        public let tokenizer: (any Tokenizer)?
        public let specials: LlamaConfigFile.SpecialTokens
        /// A Hugging Face instruct folder's chat format (tokenizer_config.json's
        /// `chat_template`, or chat_template.jinja), or nil.
        public var chatTemplate: ChatTemplate? = nil
    }

    /// Writes config, parameters and (if given) tokenizer to `directory`, creating it.
    public static func save(_ model: Transformer, tokenizer: (any Tokenizer)?, to directory: URL) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let tensors = model.layout.entries.map { e in
            SafeTensors.TensorData(name: e.name, shape: e.shape,
                                   values: UnsafeBufferPointer(start: model.parameters.at(e.offset), count: e.count))
        }
        try SafeTensors.write(tensors, metadata: ["format": "pt"], to: directory.appendingPathComponent(modelFile))
        let specials = tokenizer.map { LlamaConfigFile.SpecialTokens(bos: $0.bosId, eos: $0.eosId, pad: $0.padId) }
            ?? LlamaConfigFile.SpecialTokens(bos: 1, eos: 2, pad: 0)
        try LlamaConfigFile.write(model.config, specials: specials, to: directory.appendingPathComponent(configFile))
        if let tokenizer { try tokenizer.save(to: directory.appendingPathComponent(tokenizerFile)) }
    }

    /// Reads a checkpoint; throws `CheckpointError` naming the file (and
    /// tensor) for anything missing, truncated, corrupt or of the wrong shape.
    public static func load(from directory: URL) throws -> Loaded {
        let (config, specials) = try LlamaConfigFile.read(from: directory.appendingPathComponent(configFile))
        let shards = try modelShards(in: directory)
        let layout = ParameterLayout(config: config)
        // Every file opened (and checked) first.
        var files: [String: SafeTensorsFile] = [:]
        for name in Set(layout.entries.map { shards.fileByTensor[$0.name] ?? shards.fallback }).sorted() {
            files[name] = try SafeTensorsFile(url: directory.appendingPathComponent(name))
        }
        // Every tensor the config needs is in them with its shape before the model's size is allocated.
        for e in layout.entries { try files[shards.fileByTensor[e.name] ?? shards.fallback]!.check(e.name, shape: e.shape) }
        let parameters = FloatBuffer(count: layout.totalCount)
        for e in layout.entries {
            try files[shards.fileByTensor[e.name] ?? shards.fallback]!.read(e.name, shape: e.shape, into: parameters.at(e.offset))
        }
        let model = try Transformer(config: config, parameters: parameters)
        let tokenizerURL = directory.appendingPathComponent(tokenizerFile)
        let tokenizer = try loadTokenizer(tokenizerURL, specials: specials)
        if let tokenizer, tokenizer.vocabSize > config.vocabSize {
            throw CheckpointError(file: tokenizerURL,
                                  message: "tokenizer has \(tokenizer.vocabSize) tokens, the model only \(config.vocabSize)")
        }
        return Loaded(model: model, tokenizer: tokenizer, specials: specials, chatTemplate: chatTemplate(in: directory))
    }

    /// The chat template of a Hugging Face folder: chat_template.jinja
    /// (transformers 4.43+) or tokenizer_config.json's `chat_template`.
    static func chatTemplate(in directory: URL) -> ChatTemplate? {
        if let text = try? String(contentsOf: directory.appendingPathComponent("chat_template.jinja"), encoding: .utf8) {
            return ChatTemplate(ggufTemplate: text)
        }
        guard let data = try? CheckpointError.reading(directory.appendingPathComponent("tokenizer_config.json")),
              let json = try? JSON.parse(String(decoding: data, as: UTF8.self)),
              let text = json["chat_template"]?.stringValue else { return nil }
        return ChatTemplate(ggufTemplate: text)
    }

    /// Which file holds each tensor: model.safetensors alone, or the shards
    /// that model.safetensors.index.json's `weight_map` names (tensors it
    /// does not list are looked for in the first shard, to fail there by name).
    static func modelShards(in directory: URL) throws -> (fileByTensor: [String: String], fallback: String) {
        let single = directory.appendingPathComponent(modelFile)
        let index = directory.appendingPathComponent(modelIndexFile)
        guard !FileManager.default.fileExists(atPath: single.path), FileManager.default.fileExists(atPath: index.path) else {
            return ([:], modelFile)
        }
        let json = try? JSON.parse(String(decoding: try CheckpointError.reading(index), as: UTF8.self))
        var map: [String: String] = [:]
        for (tensor, file) in json?["weight_map"]?.objectValue ?? [] { if let file = file.stringValue { map[tensor] = file } }
        guard let first = map.values.sorted().first else {
            throw CheckpointError(file: index, message: "no weight_map of tensor names to shard files")
        }
        for file in Set(map.values) where file.contains("/") || file.hasPrefix(".") {
            throw CheckpointError(file: index, message: "shard \(file) is not a file name in this folder")
        }
        return (map, first)
    }

    /// Our tokenizer, or a Hugging Face `tokenizers` file of a byte-level BPE
    /// model (SmolLM2, Llama 3, Qwen2; a "model" key) with config.json's
    /// special ids; nil when there is no tokenizer.json (the model then works
    /// on ids). A tokenizer.json that cannot be used (not JSON, a
    /// SentencePiece model, a broken vocabulary) is an error naming the file,
    /// never a silent fallback to ids.
    public static func loadTokenizer(_ url: URL, specials: LlamaConfigFile.SpecialTokens) throws -> (any Tokenizer)? {
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        let json: JSON
        do { json = try JSON.parse(String(decoding: try CheckpointError.reading(url), as: UTF8.self)) } catch let error as JSONParseError {
            throw CheckpointError(file: url, message: "not JSON (\(error))")
        }
        if ByteLevelBPETokenizer.isHuggingFaceFile(json) {
            return try ByteLevelBPETokenizer(huggingFace: json, file: url, specials: specials)  // names what it cannot read
        }
        return try TokenizerFile.load(from: url)
    }

    /// Saves AdamW's moments, step and settings next to the model.
    public static func saveOptimizer(_ optimizer: AdamW, to directory: URL) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let s = optimizer.settings
        try SafeTensors.write(
            [
                .init(name: "exp_avg", shape: [optimizer.m.count],
                      values: UnsafeBufferPointer(start: optimizer.m.pointer, count: optimizer.m.count)),
                .init(name: "exp_avg_sq", shape: [optimizer.v.count],
                      values: UnsafeBufferPointer(start: optimizer.v.pointer, count: optimizer.v.count)),
            ],
            metadata: ["step": String(optimizer.step), "beta1": "\(s.beta1)", "beta2": "\(s.beta2)",
                       "eps": "\(s.eps)", "weight_decay": "\(s.weightDecay)"],
            to: directory.appendingPathComponent(optimizerFile))
    }

    /// Restores moments, step and settings into `optimizer` (built for the same model layout).
    public static func loadOptimizer(into optimizer: AdamW, from directory: URL) throws {
        let url = directory.appendingPathComponent(optimizerFile)
        let file = try SafeTensorsFile(url: url)
        guard let step = file.metadata["step"].flatMap(Int.init), step >= 0 else {
            throw CheckpointError(file: url, message: "missing or invalid step in metadata")
        }
        try file.read("exp_avg", shape: [optimizer.m.count], into: optimizer.m.pointer)
        try file.read("exp_avg_sq", shape: [optimizer.v.count], into: optimizer.v.pointer)
        optimizer.step = step
        func setting(_ key: String) -> Float? { file.metadata[key].flatMap(Float.init) }
        if let b1 = setting("beta1"), let b2 = setting("beta2"), let eps = setting("eps"), let wd = setting("weight_decay") {
            optimizer.settings = AdamW.Settings(beta1: b1, beta2: b2, eps: eps, weightDecay: wd)
        }
    }
}
