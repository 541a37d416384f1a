import EASTEngine
import Foundation
import Testing

@Suite struct GGUFTests {
    static func tempFile() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("east-\(UUID().uuidString).gguf")
    }

    static let config = ModelConfig(vocabSize: 8, dim: 32, layers: 2, heads: 2, kvHeads: 1, hiddenDim: 64,
                                    ropeTheta: 50_000, rmsNormEps: 1e-6, tiedEmbeddings: true, maxSeqLen: 64)

    /// llama.cpp's converter: w.reshape(heads, 2, headDim/2, cols).swapaxes(1, 2).
    static func permute(_ w: [Float], heads: Int, headDim: Int, columns: Int) -> [Float] {
        var out = w
        let half = headDim / 2
        for h in 0..<heads {
            for i in 0..<half {
                for j in 0..<2 {
                    let from = (h * headDim + j * half + i) * columns
                    let to = (h * headDim + 2 * i + j) * columns
                    for c in 0..<columns { out[to + c] = w[from + c] }
                }
            }
        }
        return out
    }

    static func llamaMetadata(_ c: ModelConfig, into w: inout GGUFWriter) {
        w.add("general.architecture", .string("llama"))
        w.add("llama.context_length", .u32(UInt32(c.maxSeqLen)))
        w.add("llama.embedding_length", .u32(UInt32(c.dim)))
        w.add("llama.block_count", .u32(UInt32(c.layers)))
        w.add("llama.feed_forward_length", .u32(UInt32(c.hiddenDim)))
        w.add("llama.attention.head_count", .u32(UInt32(c.heads)))
        w.add("llama.attention.head_count_kv", .u32(UInt32(c.kvHeads)))
        w.add("llama.rope.freq_base", .f32(c.ropeTheta))
        w.add("llama.attention.layer_norm_rms_epsilon", .f32(c.rmsNormEps))
        w.add("llama.vocab_size", .u32(UInt32(c.vocabSize)))
    }

    /// A GGUF of `model` as llama.cpp would write it: GGUF names, Q/K permuted,
    /// matrices in F16 (values chosen to be exact in F16), norms in F32.
    static func writer(for model: Transformer) -> GGUFWriter {
        var w = GGUFWriter()
        llamaMetadata(model.config, into: &w)
        let c = model.config
        for e in model.layout.entries {
            var values = model.tensor(e.name)!
            let name = GGUFModel.ggufName(e.name)
            if name.hasSuffix("attn_q.weight") { values = permute(values, heads: c.heads, headDim: c.headDim, columns: c.dim) }
            if name.hasSuffix("attn_k.weight") { values = permute(values, heads: c.kvHeads, headDim: c.headDim, columns: c.dim) }
            if e.isMatrix { w.addF16(name, shape: e.shape, values) } else { w.addF32(name, shape: e.shape, values) }
        }
        return w
    }

    /// A model whose parameters are exactly representable in F16.
    static func model() throws -> Transformer {
        let m = try Transformer(config: config, seed: 5)
        for i in 0..<m.parameters.count { m.parameters.pointer[i] = Float(Float16(m.parameters.pointer[i])) }
        return m
    }

    @Test func loadsConfigAndUnpermutesQK() throws {
        let model = try Self.model()
        let url = Self.tempFile()
        try Self.writer(for: model).write(to: url)
        let loaded = try GGUFModel.load(from: url)
        #expect(loaded.model.config == Self.config)
        #expect(loaded.model.parameters.array == model.parameters.array)
        #expect(loaded.tokenizer == nil)
        #expect(loaded.chatTemplate.defaultSystem == ChatTemplate.smolLM2System)
    }

    @Test func untiedOutputHead() throws {
        var c = Self.config
        c.tiedEmbeddings = false
        let model = try Transformer(config: c, seed: 3)
        for i in 0..<model.parameters.count { model.parameters.pointer[i] = Float(Float16(model.parameters.pointer[i])) }
        let url = Self.tempFile()
        try Self.writer(for: model).write(to: url)
        let loaded = try GGUFModel.load(from: url)
        #expect(loaded.model.config.tiedEmbeddings == false)
        #expect(loaded.model.parameters.array == model.parameters.array)
    }

    @Test func unpermuteUndoesPermute() {
        let (heads, headDim, columns) = (3, 8, 5)
        let w = (0..<heads * headDim * columns).map(Float.init)
        var p = Self.permute(w, heads: heads, headDim: headDim, columns: columns)
        p.withUnsafeMutableBufferPointer {
            GGUFModel.unpermuteRoPERows($0.baseAddress!, heads: heads, headDim: headDim, columns: columns)
        }
        #expect(p == w)
    }

    @Test func readsEveryMetadataType() throws {
        var w = GGUFWriter()
        w.add("u8", .u8(200)); w.add("i8", .i8(-5)); w.add("u16", .u16(60000)); w.add("i16", .i16(-300))
        w.add("u32", .u32(4_000_000_000)); w.add("i32", .i32(-7)); w.add("f32", .f32(0.5)); w.add("b", .bool(true))
        w.add("s", .string("héllo")); w.add("u64", .u64(1 << 40)); w.add("i64", .i64(-(1 << 40))); w.add("f64", .f64(2.25))
        w.add("a", .array(code: 8, [.string("x"), .string("")]))
        w.add("nested", .array(code: 9, [.array(code: 5, [.i32(1), .i32(2)]), .array(code: 5, [])]))
        w.add("general.alignment", .u32(64))
        w.addF32("t", shape: [2, 3], [1, 2, 3, 4, 5, 6])
        w.alignment = 64
        let url = Self.tempFile()
        try w.write(to: url)
        let f = try GGUFFile(url: url)
        #expect(f.version == 3)
        #expect(f.alignment == 64)
        let m = f.metadata
        #expect(m["u8"] == .int(200) && m["i8"] == .int(-5) && m["u16"] == .int(60000) && m["i16"] == .int(-300))
        #expect(m["u32"] == .int(4_000_000_000) && m["i32"] == .int(-7) && m["f32"] == .float(0.5) && m["b"] == .bool(true))
        #expect(m["s"] == .string("héllo") && m["u64"] == .int(1 << 40) && m["i64"] == .int(-(1 << 40)) && m["f64"] == .float(2.25))
        #expect(m["a"] == .array([.string("x"), .string("")]))
        #expect(m["nested"] == .array([.array([.int(1), .int(2)]), .array([])]))
        #expect(f[tensor: "t"]?.shape == [2, 3])
        #expect(try f.values("t") == [1, 2, 3, 4, 5, 6])
    }

    @Test func dequantizesQ8_0AndQ4_1AndQ4_0() throws {
        var w = GGUFWriter()
        // Q8_0: d = 0.5, q = -16...15
        var q8: [UInt8] = []
        GGUFWriter.put(Float16(0.5).bitPattern, &q8)
        for j in 0..<32 { q8.append(UInt8(bitPattern: Int8(j - 16))) }
        w.tensors.append(.init(name: "q8", shape: [32], type: 8, bytes: q8))
        // Q4_1: d = 0.25, m = -1; byte j = (j % 16) | ((15 - j % 16) << 4)
        var q41: [UInt8] = []
        GGUFWriter.put(Float16(0.25).bitPattern, &q41)
        GGUFWriter.put(Float16(-1).bitPattern, &q41)
        for j in 0..<16 { q41.append(UInt8(j) | UInt8(15 - j) << 4) }
        w.tensors.append(.init(name: "q41", shape: [32], type: 3, bytes: q41))
        // Q4_0: d = 2, same nibbles, value = d * (q - 8)
        var q40: [UInt8] = []
        GGUFWriter.put(Float16(2).bitPattern, &q40)
        for j in 0..<16 { q40.append(UInt8(j) | UInt8(15 - j) << 4) }
        w.tensors.append(.init(name: "q40", shape: [32], type: 2, bytes: q40))
        let url = Self.tempFile()
        try w.write(to: url)
        let f = try GGUFFile(url: url)
        #expect(try f.values("q8") == (0..<32).map { Float($0 - 16) * 0.5 })
        let low = (0..<16).map { Float($0) }, high = (0..<16).map { Float(15 - $0) }
        #expect(try f.values("q41") == (low + high).map { $0 * 0.25 - 1 })
        #expect(try f.values("q40") == (low + high).map { ($0 - 8) * 2 })
    }

    static func expectError(_ url: URL, contains text: String, sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            _ = try GGUFModel.load(from: url)
            Issue.record("expected a CheckpointError", sourceLocation: sourceLocation)
        } catch let e as CheckpointError {
            #expect(e.file == url.path, sourceLocation: sourceLocation)
            #expect(e.message.contains(text), "\(e.message)", sourceLocation: sourceLocation)
        } catch {
            Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
        }
    }

    @Test func badFilesAreCheckpointErrors() throws {
        let good = Self.writer(for: try Self.model())

        var w = good
        w.magic = Array("GGML".utf8)
        var url = Self.tempFile()
        try w.write(to: url)
        Self.expectError(url, contains: "bad magic")

        w = good
        w.version = 7
        url = Self.tempFile()
        try w.write(to: url)
        Self.expectError(url, contains: "version 7")

        w.version = UInt32(3).byteSwapped
        url = Self.tempFile()
        try w.write(to: url)
        Self.expectError(url, contains: "big-endian")

        let bytes = good.bytes()
        for cut in [10, 100, bytes.count / 2, bytes.count - 1] {
            url = Self.tempFile()
            try Data(bytes.prefix(cut)).write(to: url)
            Self.expectError(url, contains: "truncated")
        }

        w = good
        w.metadata[0] = ("general.architecture", .string("gpt2"))
        url = Self.tempFile()
        try w.write(to: url)
        Self.expectError(url, contains: "architecture \"gpt2\" is not supported")

        w = good
        w.tensors[1].type = 20  // IQ4_NL
        url = Self.tempFile()
        try w.write(to: url)
        Self.expectError(url, contains: "ggml type 20")

        w = good
        w.tensors.removeLast()
        url = Self.tempFile()
        try w.write(to: url)
        Self.expectError(url, contains: "missing tensor")

        w = good
        var deep = GGUFWriter.Value.array(code: 5, [])
        for _ in 0..<20 { deep = .array(code: 9, [deep]) }
        w.add("deep", deep)
        url = Self.tempFile()
        try w.write(to: url)
        Self.expectError(url, contains: "nested deeper")

        // Numbers from the header are bounded before they size anything.
        for (key, value, message) in [("llama.block_count", GGUFWriter.Value.u32(0xFFFF_FFFF), "layers 4294967295 is beyond"),
                                      ("llama.context_length", .u64(1 << 62), "maxSeqLen 4611686018427387904 is beyond"),
                                      ("llama.embedding_length", .u64(1_000_000_000_000), "dim 1000000000000 is beyond")] {
            w = good
            w.metadata = w.metadata.map { $0.0 == key ? (key, value) : $0 }
            url = Self.tempFile()
            try w.write(to: url)
            Self.expectError(url, contains: message)
        }

        try Data().write(to: url)
        Self.expectError(url, contains: "bad magic")
        Self.expectError(URL(fileURLWithPath: "/nonexistent/x.gguf"), contains: "cannot read")
    }

    static let realFile = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
    static var haveRealFile: Bool { FileManager.default.fileExists(atPath: realFile.path) }

    @Test(.enabled(if: haveRealFile, "models/smollm2 is absent (scripts/fetch-smollm2.sh)"))
    func realSmolLM2File() throws {
        let f = try GGUFFile(url: Self.realFile)
        #expect(f.tensors.count == 272)
        #expect(f[tensor: "token_embd.weight"]?.type == .q8_0)
        #expect(f[tensor: "blk.0.attn_q.weight"]?.type == .q4_1)
        #expect(f[tensor: "blk.0.attn_q.weight"]?.shape == [576, 576])
        let config = try GGUFModel.modelConfig(f)
        #expect(config == .smolLM2_135M)
        let tokenizer = try #require(try ByteLevelBPETokenizer(gguf: f))
        #expect(tokenizer.vocabSize == 49_152)
        #expect(tokenizer.preName == "smollm")
        #expect(tokenizer.bosId == 1 && tokenizer.eosId == 2 && tokenizer.padId == 2)
        #expect(tokenizer.id(of: "<|im_end|>") == 2)
        let template = ChatTemplate(ggufTemplate: f.metadata["tokenizer.chat_template"]?.stringValue)
        #expect(template.defaultSystem == "You are a helpful AI assistant named SmolLM, trained by Hugging Face")
    }
}

/// The tokenizer part of a GGUF, on a file the test writes.
@Suite struct GGUFTokenizerTests {
    static func file(model: String = "gpt2", pre: String = "smollm") throws -> URL {
        var w = GGUFWriter()
        var tokens = (0..<256).map { ByteLevelBPETokenizer.tokenFor(byte: UInt8($0)) }
        tokens += ["<|im_start|>", "<|im_end|>", "Ġa"]
        var types = [Int32](repeating: 1, count: tokens.count)
        types[256] = 3
        types[257] = 3
        w.add("tokenizer.ggml.model", .string(model))
        w.add("tokenizer.ggml.pre", .string(pre))
        w.add("tokenizer.ggml.tokens", .array(code: 8, tokens.map { .string($0) }))
        w.add("tokenizer.ggml.token_type", .array(code: 5, types.map { .i32($0) }))
        w.add("tokenizer.ggml.merges", .array(code: 8, [.string("Ġ a")]))
        w.add("tokenizer.ggml.bos_token_id", .u32(256))
        w.add("tokenizer.ggml.eos_token_id", .u32(257))
        w.add("tokenizer.chat_template", .string("{{ '<|im_start|>system\nBe kind.<|im_end|>\n' }}"))
        let url = GGUFTests.tempFile()
        try w.write(to: url)
        return url
    }

    @Test func readsTokenizerMetadata() throws {
        let f = try GGUFFile(url: try Self.file())
        let t = try #require(try ByteLevelBPETokenizer(gguf: f))
        #expect(t.vocabSize == 259 && t.bosId == 256 && t.eosId == 257 && t.padId == 257)
        #expect(t.encode("<|im_start|> a1<|im_end|>") == [256, 258, 49, 257])
        #expect(t.decode([256, 258, 49, 257]) == " a1")
        #expect(ChatTemplate(ggufTemplate: f.metadata["tokenizer.chat_template"]?.stringValue).defaultSystem == "Be kind.")
    }

    @Test func refusesOtherTokenizers() throws {
        for (model, pre, text) in [("llama", "smollm", "\"llama\" is not supported"), ("gpt2", "deepseek-llm", "\"deepseek-llm\" is not supported")] {
            let url = try Self.file(model: model, pre: pre)
            do {
                _ = try ByteLevelBPETokenizer(gguf: GGUFFile(url: url))
                Issue.record("expected an error for \(model)/\(pre)")
            } catch let e as CheckpointError {
                #expect(e.file == url.path && e.message.contains(text), "\(e.message)")
            }
        }
    }
}
