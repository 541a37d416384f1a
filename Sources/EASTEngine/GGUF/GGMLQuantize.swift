/// Quantizers writing ggml's blocks, so that tests and benchmarks make
/// their own files of every type the loader reads (`east model quantize`,
/// `east bench engine --shape ... --quantize`). Q8_0, Q4_0, Q4_1, Q5_0 and
/// Q5_1 follow ggml's reference quantizers (`quantize_row_*_ref`); the
/// k-quants pick each sub-block's scale and min from its range, then the
/// super-block's float16 scales from those, without ggml's search for the
/// scales of least error (the layout is ggml's: any reader decodes them; the
/// error is a little larger). Every block is read back by `dequantize` and
/// `blockCodes`, the loader's own path.
extension GGMLType {
    /// Whether `quantize` writes this type (every quantized type but Q2_K and Q3_K).
    public var isWritten: Bool { isQuantized && self != .q2_K && self != .q3_K }

    /// The ggml blocks of `values` (a multiple of blockSize). Nil for the
    /// float types and for Q2_K and Q3_K, which we read but do not write.
    func quantize(_ values: UnsafeBufferPointer<Float>) -> [UInt8]? {
        guard isWritten, values.count % blockSize == 0 else { return nil }
        var out = [UInt8](repeating: 0, count: values.count / blockSize * blockBytes)
        out.withUnsafeMutableBufferPointer { o in
            for b in 0..<values.count / blockSize {
                quantizeBlock(UnsafeBufferPointer(rebasing: values[(b * blockSize)..<((b + 1) * blockSize)]),
                              into: o.baseAddress! + b * blockBytes)
            }
        }
        return out
    }

    private func quantizeBlock(_ x: UnsafeBufferPointer<Float>, into o: UnsafeMutablePointer<UInt8>) {
        /// Stores x as float16 at byte i; returns the stored value.
        @discardableResult func putHalf(_ x: Float, at i: Int) -> Float {
            let h = Float16(x)
            o[i] = UInt8(h.bitPattern & 0xFF)
            o[i + 1] = UInt8(h.bitPattern >> 8)
            return Float(h)
        }
        switch self {
        case .q8_0:
            let amax = x.reduce(0) { max($0, abs($1)) }
            let d = amax / 127, id: Float = d != 0 ? 1 / d : 0
            putHalf(d, at: 0)
            for j in 0..<32 { o[2 + j] = UInt8(bitPattern: Int8((x[j] * id).rounded())) }
        case .q4_0, .q5_0:
            // d maps the value of largest magnitude to the lowest code
            let levels: Float = self == .q4_0 ? 8 : 16, top: Float = 2 * levels - 1
            let extreme = x.max { abs($0) < abs($1) }!
            let d = extreme / -levels, id: Float = d != 0 ? 1 / d : 0
            putHalf(d, at: 0)
            let q = x.map { UInt8(min(top, ($0 * id + levels + 0.5).rounded(.towardZero))) }
            packLow32(q, into: o + (self == .q4_0 ? 2 : 6), fifthBits: self == .q5_0 ? o + 2 : nil)
        case .q4_1, .q5_1:
            let top: Float = self == .q4_1 ? 15 : 31
            let low = x.min()!, high = x.max()!
            let d = (high - low) / top, id: Float = d != 0 ? 1 / d : 0
            putHalf(d, at: 0)
            putHalf(low, at: 2)
            let q = x.map { UInt8(min(top, (($0 - low) * id + 0.5).rounded(.towardZero))) }
            packLow32(q, into: o + (self == .q4_1 ? 4 : 8), fifthBits: self == .q5_1 ? o + 4 : nil)
        case .q4_K, .q5_K:
            quantizeK45(x, into: o, top: self == .q4_K ? 15 : 31, putHalf: putHalf)
        case .q6_K:
            quantizeK6(x, into: o, putHalf: putHalf)
        case .f32, .f16, .bf16, .q2_K, .q3_K:
            preconditionFailure("quantizeBlock: \(name) is not written")
        }
    }

    /// Codes q[0..<32] (up to 5 bits) as Q4_*/Q5_* store them: byte j the low
    /// nibbles of values j and j + 16, and bit j of a little-endian UInt32 the
    /// fifth bit of value j.
    private func packLow32(_ q: [UInt8], into o: UnsafeMutablePointer<UInt8>, fifthBits: UnsafeMutablePointer<UInt8>?) {
        var high: UInt32 = 0
        for j in 0..<16 {
            o[j] = q[j] & 0x0F | (q[j + 16] & 0x0F) << 4
            high |= UInt32(q[j] >> 4) << j | UInt32(q[j + 16] >> 4) << (j + 16)
        }
        if let fifthBits { for i in 0..<4 { fifthBits[i] = UInt8((high >> (8 * i)) & 0xFF) } }
    }

    /// Q4_K and Q5_K: per 32-value sub-block a scale (range / top) and a min
    /// (-lowest value, at least 0), as 6-bit multiples of the super-block's
    /// float16 d and dmin; then every code against the scales as stored.
    private func quantizeK45(_ x: UnsafeBufferPointer<Float>, into o: UnsafeMutablePointer<UInt8>, top: Float,
                             putHalf: (Float, Int) -> Float) {
        var scale = [Float](repeating: 0, count: 8), minimum = scale
        for s in 0..<8 {
            let v = x[(32 * s)..<(32 * s + 32)]
            let low = min(0, v.min()!), high = v.max()!
            (scale[s], minimum[s]) = ((high - low) / top, -low)
        }
        let d = putHalf(scale.max()! / 63, 0), dmin = putHalf(minimum.max()! / 63, 2)
        var sc = [UInt8](repeating: 0, count: 8), mn = sc
        for s in 0..<8 {
            sc[s] = d > 0 ? UInt8(min(63, (scale[s] / d).rounded())) : 0
            mn[s] = dmin > 0 ? UInt8(min(63, (minimum[s] / dmin).rounded())) : 0
        }
        // the 12 bytes get_scale_min_k4 reads (GGMLType.scaleMin)
        for j in 0..<12 { o[4 + j] = 0 }
        for s in 0..<8 {
            if s < 4 {
                o[4 + s] = sc[s]
                o[4 + s + 4] = mn[s]
            } else {
                o[4 + s + 4] = sc[s] & 0x0F | (mn[s] & 0x0F) << 4
                o[4 + s - 4] |= (sc[s] >> 4) << 6
                o[4 + s] |= (mn[s] >> 4) << 6
            }
        }
        let nibbles = self == .q4_K ? 16 : 48
        if self == .q5_K { for j in 0..<32 { o[16 + j] = 0 } }
        for chunk in 0..<4 {  // 64 values: 32 bytes, sub-block 2 chunk low, 2 chunk + 1 high
            for l in 0..<32 {
                var pair: UInt8 = 0
                for half in 0..<2 {
                    let s = 2 * chunk + half, i = 64 * chunk + 32 * half + l
                    let step = d * Float(sc[s]), lift = dmin * Float(mn[s])
                    let q = step > 0 ? UInt8(max(0, min(top, ((x[i] + lift) / step).rounded()))) : 0
                    pair |= (q & 0x0F) << (4 * half)
                    if self == .q5_K { o[16 + l] |= (q >> 4) << (2 * chunk + half) }
                }
                o[nibbles + 32 * chunk + l] = pair
            }
        }
    }

    /// Q6_K: per 16-value sub-block a scale that maps the value of largest
    /// magnitude to -32, as a signed 8-bit multiple of the super-block's
    /// float16 d; then every code against the scales as stored.
    private func quantizeK6(_ x: UnsafeBufferPointer<Float>, into o: UnsafeMutablePointer<UInt8>, putHalf: (Float, Int) -> Float) {
        var scale = [Float](repeating: 0, count: 16)
        for s in 0..<16 { scale[s] = x[(16 * s)..<(16 * s + 16)].max { abs($0) < abs($1) }! / -32 }
        let largest = scale.max { abs($0) < abs($1) }!
        let d = putHalf(abs(largest) / 127, 208)
        var q = [UInt8](repeating: 32, count: 256)
        for s in 0..<16 {
            let sc = d > 0 ? Int8(max(-127, min(127, (scale[s] / d).rounded()))) : 0
            o[192 + s] = UInt8(bitPattern: sc)
            let step = d * Float(sc)
            for i in (16 * s)..<(16 * s + 16) where step != 0 {
                q[i] = UInt8(max(0, min(63, (x[i] / step).rounded() + 32)))
            }
        }
        for j in 0..<192 { o[j] = 0 }
        for i in 0..<256 {  // the order GGMLType.decodeBlock reads
            let chunk = i / 128, r = i % 128, quarter = r / 32, l = r % 32
            o[64 * chunk + l + (quarter % 2) * 32] |= (q[i] & 0x0F) << (quarter < 2 ? 0 : 4)
            o[128 + 32 * chunk + l] |= (q[i] >> 4) << (2 * quarter)
        }
    }
}

/// Which type each tensor of a model gets: one type for every matrix, or
/// llama.cpp's Q4_K_M and Q5_K_M mixes (llama-quant.cpp's choice for a
/// dense Llama-style model): the output head (or the tied embedding) Q6_K;
/// attn_v and ffn_down Q6_K in the first and last eighth of the layers and
/// every third layer between, the base type elsewhere; every other matrix
/// the base type (Q4_K, Q5_K). A matrix whose rows are not a multiple of
/// 256 cannot hold k-quants and gets llama.cpp's fallback: Q4_K -> Q5_0,
/// Q5_K -> Q5_1, Q6_K -> Q8_0 (SmolLM2's width 576 makes most of its
/// Q4_K_M Q5_0 and its embedding Q8_0). Norms and biases stay Float32.
public enum QuantizationMix: Sendable, Equatable {
    case single(GGMLType)
    case q4_K_M, q5_K_M

    /// "q4_k_m", "q5_k_m", or a type's name ("q4_k", "q8_0").
    public init?(name: String) {
        switch name.lowercased() {
        case "q4_k_m": self = .q4_K_M
        case "q5_k_m": self = .q5_K_M
        default:
            guard let t = GGMLType(name: name), t.isWritten else { return nil }
            self = .single(t)
        }
    }

    public static let names = ["q4_k_m", "q5_k_m", "q4_0", "q4_1", "q5_0", "q5_1", "q8_0", "q4_k", "q5_k", "q6_k"]

    /// llama.cpp's general.file_type of the mix (LLAMA_FTYPE_MOSTLY_*).
    public var fileType: Int {
        switch self {
        case .q4_K_M: 15
        case .q5_K_M: 17
        case .single(let t):
            [GGMLType.q4_0: 2, .q4_1: 3, .q8_0: 7, .q5_0: 8, .q5_1: 9, .q4_K: 14, .q5_K: 16, .q6_K: 18][t] ?? 0
        }
    }

    /// The type of GGUF tensor `name` (a matrix of `columns` values a row)
    /// in a model of `layers` layers with a separate output head or not.
    public func type(of name: String, columns: Int, layers: Int, tiedHead: Bool) -> GGMLType {
        var type: GGMLType
        switch self {
        case .single(let t): type = t
        case .q4_K_M, .q5_K_M:
            type = self == .q4_K_M ? .q4_K : .q5_K
            let layer = name.split(separator: ".").dropFirst().first.flatMap { Int($0) } ?? 0
            // llama.cpp's use_more_bits
            let moreBits = layer < layers / 8 || layer >= 7 * layers / 8 || (layer - layers / 8) % 3 == 2
            if name == "output.weight" || (tiedHead && name == "token_embd.weight") { type = .q6_K }
            if (name.hasSuffix("attn_v.weight") || name.hasSuffix("ffn_down.weight")) && moreBits { type = .q6_K }
        }
        guard columns % type.blockSize != 0 else { return type }
        switch type {
        case .q4_K: return .q5_0
        case .q5_K: return .q5_1
        case .q6_K: return .q8_0
        default: return type
        }
    }
}

extension Transformer {
    /// Replaces every weight matrix (the embedding too; not the norms and
    /// biases) by its blocks in the type `mix` gives it, dequantized, and
    /// keeps the codes for the sampler, as loading a GGUF file of that mix
    /// would.
    public func quantizeMatrices(to mix: QuantizationMix) {
        var codes: [Int: QuantizedMatrix] = [:]
        for e in layout.entries where e.isMatrix {
            let type = mix.type(of: GGUFModel.ggufName(e.name), columns: e.shape.last ?? 0, layers: config.layers,
                                tiedHead: config.tiedEmbeddings)
            let values = UnsafeMutableBufferPointer(start: parameters.pointer + e.offset, count: e.count)
            guard let blocks = type.quantize(UnsafeBufferPointer(values)) else { continue }
            blocks.withUnsafeBytes { raw in
                type.dequantize(raw.baseAddress!, count: e.count, into: values.baseAddress!)
                codes[e.offset] = type.blockCodes(raw.baseAddress!, count: e.count)
            }
        }
        parametersDidChange()  // anything packed from the old weights is stale
        quantized = QuantizedMatrices(model: self, matrices: codes)
    }
}
