import EASTCore
@testable import EASTEngine
import Foundation
import Testing

/// Every ggml block type the loader reads, against the `gguf` package's
/// numpy implementation (.fixtures/ggml_blocks.json and the mixed-type tiny
/// model, written by scripts/parity/ggml_types_reference.py), and our
/// quantizers and `east model quantize`'s mixes.
extension GGUFTests {
    struct BlocksFixture: Decodable {
        struct Dequantized: Decodable { let bytes: String; let values: [Float] }
        struct Quantized: Decodable { let input: [Float]; let bytes: String }
        let dequantize: [String: Dequantized]
        let quantize: [String: Quantized]
    }

    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(".fixtures")

    static let blocks: BlocksFixture = {
        try! JSONDecoder().decode(BlocksFixture.self, from: Data(contentsOf: fixtures.appendingPathComponent("ggml_blocks.json")))
    }()

    /// Random blocks of every type decode to gguf.quants.dequantize's floats,
    /// bit for bit (the same multiply, then add, in Float32).
    @Test(arguments: GGMLType.allCases.filter { $0.isQuantized })
    func dequantizesLikeTheGGUFPackage(type: GGMLType) throws {
        let case_ = try #require(Self.blocks.dequantize[type.name], "no fixture for \(type.name)")
        let bytes = try #require(Data(base64Encoded: case_.bytes))
        #expect(bytes.count == case_.values.count / type.blockSize * type.blockBytes)
        var out = [Float](repeating: .nan, count: case_.values.count)
        bytes.withUnsafeBytes { type.dequantize($0.baseAddress!, count: out.count, into: &out) }
        let differing = zip(out, case_.values).enumerated().filter { $0.element.0 != $0.element.1 }.map(\.offset)
        #expect(differing.isEmpty, "\(type.name): \(differing.count) values differ, first at \(differing.first ?? 0)")
    }

    /// Our Q4_0, Q4_1, Q5_0, Q5_1 and Q8_0 quantizers (ggml's reference
    /// ones) write the bytes gguf.quants.quantize writes.
    @Test(arguments: [GGMLType.q4_0, .q4_1, .q5_0, .q5_1, .q8_0])
    func quantizesLikeTheGGUFPackage(type: GGMLType) throws {
        let case_ = try #require(Self.blocks.quantize[type.name])
        let expected = try #require(Data(base64Encoded: case_.bytes))
        let ours = try #require(case_.input.withUnsafeBufferPointer { type.quantize($0) })
        #expect(ours == [UInt8](expected))
    }

    /// The k-quant writers: every value comes back within one step of its
    /// sub-block's grid (scale d * sc, or the Q6_K step) plus the float16
    /// and 6-bit rounding of the scales, on values of several magnitudes.
    @Test(arguments: [GGMLType.q4_K, .q5_K, .q6_K])
    func kQuantsRoundTripWithinAStep(type: GGMLType) throws {
        var rng = SeededGenerator(seed: 5)
        var x = (0..<(4 * 256)).map { i in Float(Int(rng.next() % 2001) - 1000) / 1000 * (i < 512 ? 0.05 : 1.5) }
        x[300] = 4  // an outlier
        let blocks = try #require(x.withUnsafeBufferPointer { type.quantize($0) })
        #expect(blocks.count == 4 * type.blockBytes)
        var y = [Float](repeating: .nan, count: x.count)
        blocks.withUnsafeBytes { type.dequantize($0.baseAddress!, count: x.count, into: &y) }
        let levels: Float = type == .q4_K ? 15 : type == .q5_K ? 31 : 63
        for b in 0..<4 {
            let block = x[(b * 256)..<(b * 256 + 256)]
            let range = block.max()! - min(0, block.min()!)
            for i in block.indices {
                // a step of the coarsest sub-block grid, widened by the scales' rounding
                #expect(abs(y[i] - x[i]) <= 1.1 * range / levels, "\(type.name) value \(i): \(x[i]) -> \(y[i])")
            }
        }
    }

    /// llama.cpp's Q4_K_M and Q5_K_M choices: the head Q6_K, attn_v and
    /// ffn_down Q6_K in the first and last eighth and every third layer
    /// between, the base type elsewhere, and the fallbacks for rows that are
    /// not a multiple of 256 (SmolLM2's 576: Q5_0, Q5_1, Q8_0).
    @Test func mixesPickLlamaCppsTypes() {
        let mix = QuantizationMix.q4_K_M
        #expect(mix.type(of: "token_embd.weight", columns: 512, layers: 30, tiedHead: true) == .q6_K)
        #expect(mix.type(of: "token_embd.weight", columns: 512, layers: 30, tiedHead: false) == .q4_K)
        #expect(mix.type(of: "output.weight", columns: 512, layers: 30, tiedHead: false) == .q6_K)
        #expect(mix.type(of: "token_embd.weight", columns: 576, layers: 30, tiedHead: true) == .q8_0)
        let more = (0..<30).filter { mix.type(of: "blk.\($0).ffn_down.weight", columns: 1536, layers: 30, tiedHead: true) == .q6_K }
        #expect(more == [0, 1, 2, 5, 8, 11, 14, 17, 20, 23, 26, 27, 28, 29])
        #expect(mix.type(of: "blk.4.attn_v.weight", columns: 576, layers: 30, tiedHead: true) == .q5_0)
        #expect(mix.type(of: "blk.5.attn_v.weight", columns: 576, layers: 30, tiedHead: true) == .q8_0)
        #expect(mix.type(of: "blk.4.attn_q.weight", columns: 576, layers: 30, tiedHead: true) == .q5_0)
        #expect(mix.type(of: "blk.4.ffn_down.weight", columns: 1536, layers: 30, tiedHead: true) == .q4_K)
        #expect(QuantizationMix.q5_K_M.type(of: "blk.4.attn_q.weight", columns: 576, layers: 30, tiedHead: true) == .q5_1)
        #expect(QuantizationMix.q5_K_M.type(of: "blk.4.attn_q.weight", columns: 512, layers: 30, tiedHead: true) == .q5_K)
        #expect(QuantizationMix(name: "Q8_0") == .single(.q8_0) && QuantizationMix(name: "q2_k") == nil)
    }

    /// `east model quantize`'s copy: metadata carried over (file type set),
    /// norms as they were, every matrix in its mix type, and it loads with
    /// the weights of a dequantize-quantize round trip of the original.
    @Test func quantizedCopyLoadsInItsMixTypes() throws {
        let model = try Self.model()
        let url = Self.tempFile(), copyURL = Self.tempFile()
        try Self.writer(for: model).write(to: url)
        let (data, types) = try GGUFFile(url: url).quantizedCopy(mix: .q4_K_M)
        try data.write(to: copyURL)
        let copy = try GGUFFile(url: copyURL)
        #expect(copy.metadata["general.file_type"]?.intValue == 15)
        #expect(copy.metadata["llama.block_count"]?.intValue == Self.config.layers)
        // width 32: no k-quants fit; Q4_K falls back to Q5_0, Q6_K to Q8_0
        #expect(copy[tensor: "token_embd.weight"]?.type == .q8_0 && copy[tensor: "blk.0.attn_q.weight"]?.type == .q5_0)
        #expect(copy[tensor: "blk.0.attn_norm.weight"]?.type == .f32)
        #expect(types[.f32] == 2 * Self.config.layers + 1)
        let loaded = try GGUFModel.load(from: copyURL)
        #expect(loaded.model.quantized?.matrices.count == 7 * Self.config.layers + 1)
        let q = try #require(GGUFFile(url: url).values("blk.1.ffn_down.weight").withUnsafeBufferPointer { GGMLType.q8_0.quantize($0) })
        var expected = [Float](repeating: 0, count: Self.config.dim * Self.config.hiddenDim)
        q.withUnsafeBytes { GGMLType.q8_0.dequantize($0.baseAddress!, count: expected.count, into: &expected) }
        #expect(try copy.values("blk.1.ffn_down.weight") == expected, "layer 1 of 2: ffn_down gets more bits (Q6_K, so Q8_0)")
    }

    struct MixedTinyFixture: Decodable {
        struct Prompt: Decodable {
            let ids: [Int]
            let nextLogProbs: [String: [Float]], greedy: [Int]
            /// with every product's input rounded to 8-bit blocks, as the integer kernels do
            let nextLogProbs8bit: [String: [Float]]
        }
        let prompts: [Prompt]
        let types: [String: String]
        /// How far the 8-bit pass moves when its inputs change by float32's rounding
        let roundingSensitivity: Float
    }

    static let mixedTiny: MixedTinyFixture = {
        try! JSONDecoder().decode(MixedTinyFixture.self, from: Data(contentsOf: fixtures.appendingPathComponent("mixed_tiny_parity.json")))
    }()

    /// The tiny model whose matrices are ten different types, against a
    /// float64 numpy forward pass of gguf.quants' weights: the Float32 path
    /// within float rounding of it. The integer path against the same pass
    /// with every product's input rounded to 8-bit blocks: within how far
    /// that pass itself moves when its inputs change by float32's rounding
    /// (values near a half step round the other way; the fixture measures
    /// it, about 0.17 for this model), and the same top token wherever the
    /// reference's top two are further apart than that.
    @Test func mixedTypesModelMatchesTheReference() throws {
        let loaded = try GGUFModel.load(from: Self.fixtures.appendingPathComponent("mixed-tiny.gguf"))
        let model = loaded.model
        let file = loaded.file
        for (name, type) in Self.mixedTiny.types { #expect(file[tensor: name]?.type.name == type, "\(name)") }
        #expect(model.quantized?.matrices.count == 7 * model.config.layers + 1, "every matrix keeps its codes")
        let floats = try Transformer(config: model.config, parameters: FloatBuffer(model.parameters.array))
        let integerSampler = Sampler(model: model, maxRows: 1, maxSequenceLength: 48)
        let floatSampler = Sampler(model: floats, maxRows: 1, maxSequenceLength: 48)
        let tolerance = 1.5 * Self.mixedTiny.roundingSensitivity
        var worstFloat: Float = 0, worstInteger: Float = 0, integerToFloat64: Float = 0, topChecked = 0
        for p in Self.mixedTiny.prompts {
            for (length, expected) in p.nextLogProbs {
                let expected8 = p.nextLogProbs8bit[length]!
                let prefix = Array(p.ids.prefix(Int(length)!))
                let f = floatSampler.nextTokenLogProbs(prompt: prefix), i = integerSampler.nextTokenLogProbs(prompt: prefix)
                worstFloat = max(worstFloat, zip(f, expected).map { abs($0 - $1) }.max()!)
                worstInteger = max(worstInteger, zip(i, expected8).map { abs($0 - $1) }.max()!)
                integerToFloat64 = max(integerToFloat64, zip(i, expected).map { abs($0 - $1) }.max()!)
                let ranked = expected8.indices.sorted { expected8[$0] > expected8[$1] }
                if expected8[ranked[0]] - expected8[ranked[1]] > 2 * tolerance {
                    topChecked += 1
                    #expect(i.indices.max { i[$0] < i[$1] } == ranked[0], "integer path: top token after \(length) tokens")
                }
            }
        }
        print("mixed-type tiny model: largest log-prob difference, Float32 path to float64 \(worstFloat), "
              + "integer path to float64 with 8-bit activations \(worstInteger) (to float64 \(integerToFloat64)); "
              + "top token checked at \(topChecked) of 12 positions")
        #expect(worstFloat < 1e-4)
        #expect(worstInteger <= tolerance, "tolerance \(tolerance)")
        #expect(topChecked >= 4)
    }
}
