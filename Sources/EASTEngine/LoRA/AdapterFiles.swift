import EASTCore
import Foundation

/// An adapter directory, laid out like PEFT's `save_pretrained` output, so
/// that `PeftModel.from_pretrained(base, dir)` loads what we train and we
/// load what PEFT trains (plain LoRA: no dropout at inference, no bias, no rsLoRA):
///   adapter_config.json        peft_type LORA, r, lora_alpha, target_modules, ...
///   adapter_model.safetensors  base_model.model.model.layers.{l}.{self_attn|mlp}.{x}_proj.lora_{A|B}.weight
/// Both files are written atomically.
extension LoRAAdapter {
    public static let configFile = "adapter_config.json"
    public static let weightsFile = "adapter_model.safetensors"

    /// Writes the adapter to `directory`, creating it. `baseModel` goes to
    /// `base_model_name_or_path` (a Hub id or path PEFT would load the base from).
    public func save(to directory: URL, baseModel: String = "") throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let tensors = layout.entries.map { e in
            SafeTensors.TensorData(name: e.name, shape: e.shape,
                                   values: UnsafeBufferPointer(start: parameters.at(e.offset), count: e.count))
        }
        try SafeTensors.write(tensors, metadata: ["format": "pt"], to: directory.appendingPathComponent(Self.weightsFile))
        let json = PEFTConfig(baseModelNameOrPath: baseModel, r: config.rank, loraAlpha: config.alpha, targetModules: config.targets.map(\.rawValue))
        try AtomicFile.write(try JSONCoding.encode(json, pretty: true), to: directory.appendingPathComponent(Self.configFile))
    }

    /// Reads an adapter for a base model of shape `modelConfig`; throws
    /// `CheckpointError` naming the file (and tensor) for anything missing,
    /// mis-shaped, unexpected, or a PEFT option this engine does not implement.
    public static func load(from directory: URL, modelConfig: ModelConfig) throws -> LoRAAdapter {
        let configURL = directory.appendingPathComponent(configFile)
        let config = try readConfig(configURL)
        let adapter: LoRAAdapter
        do {
            adapter = try LoRAAdapter(config: config, modelConfig: modelConfig)
        } catch {
            throw CheckpointError(file: configURL, message: "\(error)")
        }
        let file = try SafeTensorsFile(url: directory.appendingPathComponent(weightsFile))
        for e in adapter.layout.entries {
            try file.read(e.name, shape: e.shape, into: adapter.parameters.at(e.offset))
        }
        // a tensor we do not read would be silently dropped: e.g. a layer the base model lacks
        if let extra = file.tensors.keys.filter({ adapter.layout.index[$0] == nil }).sorted().first {
            throw CheckpointError(file: file.url, message:
                "unexpected tensor \(extra): not one of the \(modelConfig.layers) layers' \(config.targets.map(\.rawValue)) adapters")
        }
        return adapter
    }

    static func readConfig(_ url: URL) throws -> LoRAConfig {
        func fail(_ message: String) -> CheckpointError { CheckpointError(file: url, message: message) }
        let text = String(decoding: try CheckpointError.reading(url), as: UTF8.self)
        let json: JSON
        do { json = try JSON.parse(text) } catch { throw fail("not JSON (\(error))") }
        guard case .object = json else { throw fail("not a JSON object") }
        if let type = json["peft_type"], type != "LORA" { throw fail("peft_type \(type.text), only LORA is supported") }
        guard let rank = json["r"]?.intValue, rank > 0 else { throw fail("missing or invalid r") }
        guard let alpha = json["lora_alpha"]?.numberValue else { throw fail("missing or non-numeric lora_alpha") }
        guard let modules = json["target_modules"]?.arrayValue else {
            throw fail("target_modules must be a list of module names (regex or all-linear are not supported)")
        }
        var targets: [LoRATarget] = []
        for module in modules {
            guard let name = module.stringValue, let target = LoRATarget(rawValue: name) else {
                throw fail("target module \(module.text) is not one of \(LoRATarget.allCases.map(\.rawValue))")
            }
            targets.append(target)
        }
        // options that would change what the adapter computes
        if json["use_rslora"]?.boolValue == true { throw fail("use_rslora is not supported") }
        if json["fan_in_fan_out"]?.boolValue == true { throw fail("fan_in_fan_out is not supported") }
        if let bias = json["bias"]?.stringValue, bias != "none" { throw fail("bias \(bias) is not supported (only none)") }
        for key in ["layers_to_transform", "rank_pattern", "alpha_pattern", "modules_to_save"] {
            if let value = json[key], value != .null, value != .object([]), value != .array([]) {
                throw fail("\(key) is not supported")
            }
        }
        return LoRAConfig(rank: rank, alpha: Float(alpha), targets: targets)
    }
}

/// PEFT's adapter_config.json for a plain LoRA adapter (what `PeftModel.from_pretrained` reads).
struct PEFTConfig: Encodable {
    var peftType = "LORA", taskType = "CAUSAL_LM"
    var baseModelNameOrPath: String
    var r: Int
    var loraAlpha: Float
    var targetModules: [String]
    var loraDropout = 0, bias = "none", fanInFanOut = false, useRslora = false, initLoraWeights = true, inferenceMode = true
    var modulesToSave: [String]? = nil

    enum CodingKeys: String, CodingKey {
        case peftType = "peft_type", taskType = "task_type", baseModelNameOrPath = "base_model_name_or_path", r, loraAlpha = "lora_alpha"
        case targetModules = "target_modules", loraDropout = "lora_dropout", bias, fanInFanOut = "fan_in_fan_out", useRslora = "use_rslora"
        case initLoraWeights = "init_lora_weights", inferenceMode = "inference_mode", modulesToSave = "modules_to_save"
    }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(peftType, forKey: .peftType)
        try c.encode(taskType, forKey: .taskType)
        try c.encode(baseModelNameOrPath, forKey: .baseModelNameOrPath)
        try c.encode(r, forKey: .r)
        try c.encode(loraAlpha, forKey: .loraAlpha)
        try c.encode(targetModules, forKey: .targetModules)
        try c.encode(loraDropout, forKey: .loraDropout)
        try c.encode(bias, forKey: .bias)
        try c.encode(fanInFanOut, forKey: .fanInFanOut)
        try c.encode(useRslora, forKey: .useRslora)
        try c.encode(initLoraWeights, forKey: .initLoraWeights)
        try c.encode(inferenceMode, forKey: .inferenceMode)
        try c.encode(modulesToSave, forKey: .modulesToSave)
    }
}
