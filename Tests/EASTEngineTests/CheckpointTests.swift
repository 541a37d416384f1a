import EASTEngine
import Foundation
import Testing

@Suite struct CheckpointTests {
    static func tempDirectory() -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("east-ckpt-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    static let tokenizer = CharacterTokenizer(covering: "abc +=0123456789")

    static func model(tied: Bool) throws -> Transformer {
        try Transformer(config: ModelConfig(vocabSize: tokenizer.vocabSize, dim: 8, layers: 2, heads: 2, kvHeads: 1,
                                            hiddenDim: 12, tiedEmbeddings: tied, maxSeqLen: 32), seed: 11)
    }

    /// Runs `body` and returns the CheckpointError it throws (or records an issue).
    static func error(_ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) -> CheckpointError? {
        do {
            try body()
            Issue.record("expected a CheckpointError", sourceLocation: sourceLocation)
        } catch let e as CheckpointError {
            return e
        } catch {
            Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
        }
        return nil
    }

    @Test(arguments: [true, false]) func roundTrip(tied: Bool) throws {
        let dir = Self.tempDirectory()
        let model = try Self.model(tied: tied)
        try Checkpoint.save(model, tokenizer: Self.tokenizer, to: dir)
        let loaded = try Checkpoint.load(from: dir)
        #expect(loaded.model.config == model.config)
        #expect(loaded.model.parameters.array == model.parameters.array)
        #expect(loaded.tokenizer as? CharacterTokenizer == Self.tokenizer)
        #expect(loaded.specials == .init(bos: 1, eos: 2, pad: 0))
        // the files look like Hugging Face's
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("config.json"))) as! [String: Any]
        #expect(config["model_type"] as? String == "llama" && config["architectures"] as? [String] == ["LlamaForCausalLM"])
        #expect(config["tie_word_embeddings"] as? Bool == tied && config["num_key_value_heads"] as? Int == 1)
        let file = try SafeTensorsFile(url: dir.appendingPathComponent("model.safetensors"))
        #expect(file.tensors["lm_head.weight"] == nil || !tied)
        #expect(file.tensors["model.layers.1.mlp.up_proj.weight"]?.shape == [12, 8])
        // no temporary files left behind
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        #expect(Set(names) == ["config.json", "model.safetensors", "tokenizer.json"])
    }

    @Test func safetensorsHeaderLayout() throws {
        let dir = Self.tempDirectory(), url = dir.appendingPathComponent("t.safetensors")
        let values: [Float] = [1, 2, 3, 4, 5, 6]
        try values.withUnsafeBufferPointer {
            try SafeTensors.write([.init(name: "w", shape: [2, 3], values: $0)], to: url)
        }
        let data = try Data(contentsOf: url)
        let n = data.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        #expect(n % 8 == 0 && data.count == 8 + n + 24)
        let header = try JSONSerialization.jsonObject(with: data.subdata(in: 8..<(8 + n))) as! [String: [String: Any]]
        #expect(header["w"]?["dtype"] as? String == "F32" && header["w"]?["data_offsets"] as? [Int] == [0, 24])
        var back = [Float](repeating: 0, count: 6)
        try SafeTensorsFile(url: url).read("w", shape: [2, 3], into: &back)
        #expect(back == values)
    }

    /// Hub checkpoints ship in BF16 (or F16): read as Float32.
    @Test func halfPrecisionTensorsAreWidened() throws {
        let url = Self.tempDirectory().appendingPathComponent("half.safetensors")
        let values: [Float] = [1.5, -2.25, 0, 256, 3.140625]
        let bf16: [UInt16] = values.map { UInt16($0.bitPattern >> 16) }  // exact: these need no rounding
        let f16: [UInt16] = values.map { Float16($0).bitPattern }
        let header = "{\"a\":{\"dtype\":\"BF16\",\"shape\":[5],\"data_offsets\":[0,10]},"
            + "\"b\":{\"dtype\":\"F16\",\"shape\":[5],\"data_offsets\":[10,20]}}"
        var data = Data()
        withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(contentsOf: Array(header.utf8))
        for h in bf16 + f16 { withUnsafeBytes(of: h.littleEndian) { data.append(contentsOf: $0) } }
        try data.write(to: url)
        let file = try SafeTensorsFile(url: url)
        var a = [Float](repeating: 9, count: 5), b = a
        try file.read("a", shape: [5], into: &a)
        try file.read("b", shape: [5], into: &b)
        #expect(a == values && b == values)
    }

    @Test func corruptModelFilesThrowClearErrors() throws {
        let dir = Self.tempDirectory()
        try Checkpoint.save(try Self.model(tied: true), tokenizer: Self.tokenizer, to: dir)
        let modelURL = dir.appendingPathComponent("model.safetensors")
        let good = try Data(contentsOf: modelURL)
        func with(_ bytes: Data, _ check: (CheckpointError) -> Void) throws {
            try bytes.write(to: modelURL)
            if let e = Self.error({ _ = try Checkpoint.load(from: dir) }) {
                #expect(e.file.hasSuffix("model.safetensors"))
                check(e)
            }
        }
        // truncated data: the last tensor is cut
        try with(good.prefix(good.count - 10)) { #expect($0.message.contains("truncated") && $0.message.contains("model.norm.weight")) }
        // too short to hold the header length
        try with(good.prefix(5)) { #expect($0.message.contains("no header length")) }
        // header length beyond the file
        var long = good
        long.replaceSubrange(0..<8, with: [255, 255, 255, 0, 0, 0, 0, 0])
        try with(long) { #expect($0.message.contains("truncated: header")) }
        // garbage in the header
        var garbage = good
        garbage.replaceSubrange(8..<16, with: Array("not json".utf8))
        try with(garbage) { #expect($0.message.contains("corrupt header")) }
        // an unsupported dtype
        var i64 = good
        i64.replaceSubrange(good.range(of: Data("\"F32\"".utf8))!, with: Data("\"I64\"".utf8))
        try with(i64) { #expect($0.message.contains("dtype I64")) }
        // a dtype whose size does not match the byte range
        var f16 = good
        f16.replaceSubrange(good.range(of: Data("\"F32\"".utf8))!, with: Data("\"F16\"".utf8))
        try with(f16) { #expect($0.message.contains("do not hold shape")) }
        // a shape whose element count overflows
        let headerLength = Int(good[0]) | Int(good[1]) << 8 | Int(good[2]) << 16
        let headerText = String(decoding: good.subdata(in: 8..<(8 + headerLength)), as: UTF8.self)
        let hugeHeader = headerText.replacingOccurrences(of: "\"shape\":[8]", with: "\"shape\":[9223372036854775807,4]")
        var huge = Data()
        withUnsafeBytes(of: UInt64(hugeHeader.utf8.count).littleEndian) { huge.append(contentsOf: $0) }
        huge.append(contentsOf: Array(hugeHeader.utf8))
        huge.append(good.subdata(in: (8 + headerLength)..<good.count))
        try with(huge) { #expect($0.message.contains("impossible shape")) }
        try FileManager.default.removeItem(at: modelURL)
        if let e = Self.error({ _ = try Checkpoint.load(from: dir) }) { #expect(e.message.contains("cannot read")) }
    }

    @Test func shapeNotMatchingConfigNamesTheTensor() throws {
        let dir = Self.tempDirectory()
        try Checkpoint.save(try Self.model(tied: true), tokenizer: nil, to: dir)
        let configURL = dir.appendingPathComponent("config.json")
        let text = try String(contentsOf: configURL, encoding: .utf8)
        try text.replacingOccurrences(of: "\"intermediate_size\" : 12", with: "\"intermediate_size\" : 16")
            .write(to: configURL, atomically: true, encoding: .utf8)
        if let e = Self.error({ _ = try Checkpoint.load(from: dir) }) {
            #expect(e.message.contains("model.layers.0.mlp.gate_proj.weight") && e.message.contains("[12, 8]"))
        }
        // untied config, tied file: lm_head is missing
        try text.replacingOccurrences(of: "\"tie_word_embeddings\" : true", with: "\"tie_word_embeddings\" : false")
            .write(to: configURL, atomically: true, encoding: .utf8)
        if let e = Self.error({ _ = try Checkpoint.load(from: dir) }) { #expect(e.message == "missing tensor lm_head.weight") }
        // config that is not a model
        try "{\"hidden_size\": 8}".write(to: configURL, atomically: true, encoding: .utf8)
        if let e = Self.error({ _ = try Checkpoint.load(from: dir) }) {
            #expect(e.file.hasSuffix("config.json") && e.message.contains("missing or non-integer key"))
        }
        try "[1, 2".write(to: configURL, atomically: true, encoding: .utf8)
        if let e = Self.error({ _ = try Checkpoint.load(from: dir) }) { #expect(e.message.contains("not JSON (column 6: unterminated array)")) }
        try "[1, 2]".write(to: configURL, atomically: true, encoding: .utf8)
        if let e = Self.error({ _ = try Checkpoint.load(from: dir) }) { #expect(e.message.contains("not a JSON object")) }
    }

    /// A tokenizer.json that cannot be used stops the load, naming the file and
    /// what it lacks; it never silently leaves a model without its tokenizer.
    @Test func anUnusableTokenizerFileIsAnError() throws {
        let dir = Self.tempDirectory()
        try Checkpoint.save(try Self.model(tied: true), tokenizer: Self.tokenizer, to: dir)
        let url = dir.appendingPathComponent("tokenizer.json")
        try "{\"version\": \"1.0\", \"model\": {\"type\": \"BPE\"}}".write(to: url, atomically: true, encoding: .utf8)
        if let e = Self.error({ _ = try Checkpoint.load(from: dir) }) {
            #expect(e.file.hasSuffix("tokenizer.json") && e.message.contains("pre_tokenizer"))
        }
        try "{\"type\": \"character\", \"characters\": [\"ab\"]}".write(to: url, atomically: true, encoding: .utf8)
        #expect(throws: CheckpointError.self) { try Checkpoint.load(from: dir) }
    }

    @Test func tokenizerRoundTripAndCorruption() throws {
        let t = Self.tokenizer
        #expect(t.decode(t.encode("12 + 3")) == "12 + 3")
        #expect(t.encode("a?") == [t.encode("a")[0], t.unkId])
        #expect(t.decode([t.bosId] + t.encode("ab") + [t.eosId]) == "ab")
        let url = Self.tempDirectory().appendingPathComponent("tokenizer.json")
        try t.save(to: url)
        #expect(try CharacterTokenizer.load(from: url) == t)
        try "{\"type\": \"bpe\"}".write(to: url, atomically: true, encoding: .utf8)
        if let e = Self.error({ _ = try CharacterTokenizer.load(from: url) }) { #expect(e.file.hasSuffix("tokenizer.json")) }
    }

    @Test func optimizerStateResumesTrainingExactly() throws {
        let dir = Self.tempDirectory()
        let batch = TokenBatch(sequences: [(prompt: [1, 4], completion: [5, 6, 2])], padId: 0)
        let schedule = LearningRateSchedule(peak: 1e-2, warmupSteps: 2, totalSteps: 10)
        func sft(_ o: TokenLogProbs, _ b: TokenBatch) -> LossResult { SFTLoss.compute(o, b, weights: [1]) }
        let a = Trainer(model: try Self.model(tied: true), schedule: schedule)
        a.step([batch], loss: sft)
        a.step([batch], loss: sft)
        try Checkpoint.save(a.model, tokenizer: nil, to: dir)
        try Checkpoint.saveOptimizer(a.optimizer, to: dir)
        let loaded = try Checkpoint.load(from: dir)
        let optimizer = AdamW(layout: loaded.model.layout)
        try Checkpoint.loadOptimizer(into: optimizer, from: dir)
        #expect(optimizer.step == 2 && optimizer.settings == a.optimizer.settings)
        let b = Trainer(model: loaded.model, optimizer: optimizer, schedule: schedule)
        a.step([batch], loss: sft)
        b.step([batch], loss: sft)
        #expect(a.model.parameters.array == b.model.parameters.array)
        // an optimizer file for another model shape
        let other = AdamW(layout: ParameterLayout(config: ModelConfig(vocabSize: 5, dim: 4, layers: 1, heads: 1, kvHeads: 1, hiddenDim: 4)))
        if let e = Self.error({ try Checkpoint.loadOptimizer(into: other, from: dir) }) { #expect(e.message.contains("exp_avg")) }
    }
}
