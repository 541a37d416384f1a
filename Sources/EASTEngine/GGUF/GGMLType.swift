/// Tensor element types of ggml that we read (ggml-common.h's block layouts).
///
/// The quantized types store a row in blocks whose values share scales:
///   Q8_0  34 bytes / 32: f16 d, 32 × int8 q                      value = d · q
///   Q4_0  18 bytes / 32: f16 d, 16 bytes of nibbles              value = d · (q − 8)
///   Q4_1  20 bytes / 32: f16 d, f16 m, 16 bytes of nibbles       value = d · q + m
///   Q5_0  22 bytes / 32: f16 d, 4 bytes of fifth bits, nibbles    value = d · (q − 16)
///   Q5_1  24 bytes / 32: f16 d, f16 m, fifth bits, nibbles        value = d · q + m
/// In these, byte j holds value j in its low nibble and value j + 16 in its
/// high one, and bit j of the fifth bits (a little-endian UInt32) is value j's.
/// The k-quants group 256 values into a super-block with float16 scales of
/// integer sub-block scales:
///   Q2_K  84 bytes: 16 × (4-bit scale, 4-bit min), 64 bytes of 2-bit q, f16 d, f16 dmin
///         value = d · scale · q − dmin · min, 16 values a sub-block
///   Q3_K 110 bytes: 32 bytes of high bits, 64 bytes of 2-bit q, 12 bytes of 16 6-bit scales, f16 d
///         value = d · (scale − 32) · (q − 4 · !high), 16 values a sub-block
///   Q4_K 144 bytes: f16 d, f16 dmin, 12 bytes of 8 6-bit (scale, min), 128 bytes of nibbles
///         value = d · scale · q − dmin · min, 32 values a sub-block
///   Q5_K 176 bytes: as Q4_K with 32 bytes of fifth bits before the nibbles
///   Q6_K 210 bytes: 128 bytes of low nibbles, 64 of high 2 bits, 16 × int8 scale, f16 d
///         value = d · scale · (q − 32), 16 values a sub-block
/// (`blockCodes` below reads each layout; see it for the order of values.)
/// SmolLM2-135M-Instruct.Q4_1.gguf uses F32 (norms), Q8_0 (embedding) and Q4_1 (the rest);
/// llama.cpp's Q4_K_M mix of it Q4_K, Q6_K, Q5_0 and Q8_0.
public enum GGMLType: UInt32, Sendable, CaseIterable {
    case f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q5_0 = 6, q5_1 = 7, q8_0 = 8
    case q2_K = 10, q3_K = 11, q4_K = 12, q5_K = 13, q6_K = 14, bf16 = 30

    /// Values per block (1 for the plain float types).
    public var blockSize: Int {
        switch self {
        case .f32, .f16, .bf16: 1
        case .q4_0, .q4_1, .q5_0, .q5_1, .q8_0: 32
        case .q2_K, .q3_K, .q4_K, .q5_K, .q6_K: 256
        }
    }

    /// Bytes per block.
    public var blockBytes: Int {
        switch self {
        case .f32: 4
        case .f16, .bf16: 2
        case .q4_0: 18
        case .q4_1: 20
        case .q5_0: 22
        case .q5_1: 24
        case .q8_0: 34
        case .q2_K: 84
        case .q3_K: 110
        case .q4_K: 144
        case .q5_K: 176
        case .q6_K: 210
        }
    }

    /// Values that share one scale and offset in `blockCodes` (16 for the
    /// k-quants with 16-value sub-blocks), 1 for the float types.
    public var subBlock: Int {
        switch self {
        case .f32, .f16, .bf16: 1
        case .q2_K, .q3_K, .q6_K: 16
        default: 32
        }
    }

    public var name: String {
        switch self {
        case .f32: "F32"
        case .f16: "F16"
        case .bf16: "BF16"
        case .q4_0: "Q4_0"
        case .q4_1: "Q4_1"
        case .q5_0: "Q5_0"
        case .q5_1: "Q5_1"
        case .q8_0: "Q8_0"
        case .q2_K: "Q2_K"
        case .q3_K: "Q3_K"
        case .q4_K: "Q4_K"
        case .q5_K: "Q5_K"
        case .q6_K: "Q6_K"
        }
    }

    /// The type named `name` (any case: "q4_k" or "Q4_K").
    public init?(name: String) {
        guard let t = Self.allCases.first(where: { $0.name.lowercased() == name.lowercased() }) else { return nil }
        self = t
    }

    public var isQuantized: Bool { blockSize > 1 }

    /// Converts `count` values (a multiple of blockSize) starting at `source`
    /// into Float32: scale · code + offset of `blockCodes`, a multiply then an
    /// add, which rounds as ggml's dequantizers do.
    func dequantize(_ source: UnsafeRawPointer, count: Int, into out: UnsafeMutablePointer<Float>) {
        switch self {
        case .f32:
            for i in 0..<count {
                out[i] = Float(bitPattern: UInt32(littleEndian: source.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
            }
        case .f16:
            for i in 0..<count { out[i] = Self.half(source, 2 * i) }
        case .bf16:  // bfloat16 is the top half of a float32
            for i in 0..<count {
                let bits = UInt16(littleEndian: source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
                out[i] = Float(bitPattern: UInt32(bits) << 16)
            }
        default:
            var codes = [Int8](repeating: 0, count: blockSize)
            var scales = [Float](repeating: 0, count: blockSize / subBlock), offsets = scales
            for b in 0..<count / blockSize {
                decodeBlock(source + b * blockBytes, codes: &codes, scales: &scales, offsets: &offsets)
                for i in 0..<blockSize {
                    let s = i / subBlock
                    out[b * blockSize + i] = scales[s] * Float(codes[i]) + offsets[s]
                }
            }
        }
    }
}

extension GGMLType {
    /// The little-endian float16 at `offset`, as a Float: the scales and mins of the quantized blocks.
    static func half(_ source: UnsafeRawPointer, _ offset: Int) -> Float {
        Float(Float16(bitPattern: UInt16(littleEndian: source.loadUnaligned(fromByteOffset: offset, as: UInt16.self))))
    }

    /// The blocks of a quantized tensor as one signed byte per value and a
    /// scale and offset per `subBlock` values, value = scale · code + offset,
    /// exactly what `dequantize` gives. Nil for the float types.
    func blockCodes(_ source: UnsafeRawPointer, count: Int) -> QuantizedMatrix? {
        guard isQuantized else { return nil }
        var codes = [Int8](repeating: 0, count: count)
        var scales = [Float](repeating: 0, count: count / subBlock), offsets = scales
        let perBlock = blockSize / subBlock
        codes.withUnsafeMutableBufferPointer { c in
            scales.withUnsafeMutableBufferPointer { s in
                offsets.withUnsafeMutableBufferPointer { o in
                    for b in 0..<count / blockSize {
                        decodeBlock(source + b * blockBytes, codes: c.baseAddress! + b * blockSize,
                                    scales: s.baseAddress! + b * perBlock, offsets: o.baseAddress! + b * perBlock)
                    }
                }
            }
        }
        return QuantizedMatrix(type: self, codes: codes, scales: scales, offsets: offsets)
    }

    /// One block: its blockSize codes and its blockSize / subBlock scales and
    /// offsets, in ggml's order of values (ggml-quants.c's dequantize_row_*).
    func decodeBlock(_ p: UnsafeRawPointer, codes: UnsafeMutablePointer<Int8>, scales: UnsafeMutablePointer<Float>,
                     offsets: UnsafeMutablePointer<Float>) {
        func byte(_ i: Int) -> UInt8 { p.load(fromByteOffset: i, as: UInt8.self) }
        func half(_ i: Int) -> Float { Self.half(p, i) }
        func bits32(_ i: Int) -> UInt32 { UInt32(littleEndian: p.loadUnaligned(fromByteOffset: i, as: UInt32.self)) }
        switch self {
        case .f32, .f16, .bf16:
            preconditionFailure("decodeBlock: \(name) has no blocks")
        case .q8_0:
            (scales[0], offsets[0]) = (half(0), 0)
            for j in 0..<32 { codes[j] = Int8(bitPattern: byte(2 + j)) }
        case .q4_0, .q4_1:
            let first = self == .q4_0 ? 2 : 4, shift: Int8 = self == .q4_0 ? 8 : 0
            (scales[0], offsets[0]) = (half(0), self == .q4_1 ? half(2) : 0)
            for j in 0..<16 {
                codes[j] = Int8(byte(first + j) & 0x0F) - shift
                codes[j + 16] = Int8(byte(first + j) >> 4) - shift
            }
        case .q5_0, .q5_1:
            let high = bits32(self == .q5_0 ? 2 : 4), first = self == .q5_0 ? 6 : 8, shift: Int8 = self == .q5_0 ? 16 : 0
            (scales[0], offsets[0]) = (half(0), self == .q5_1 ? half(2) : 0)
            for j in 0..<16 {
                codes[j] = Int8(byte(first + j) & 0x0F | UInt8((high >> j) & 1) << 4) - shift
                codes[j + 16] = Int8(byte(first + j) >> 4 | UInt8((high >> (j + 16)) & 1) << 4) - shift
            }
        case .q2_K:
            // scales[0..<16], qs[16..<80], d at 80, dmin at 82; value i of each 128:
            // 32 bytes, 2 bits a value, the shift moving every 32 values
            let d = half(80), dmin = half(82)
            for s in 0..<16 {
                let sc = byte(s)
                scales[s] = d * Float(sc & 0x0F)
                offsets[s] = -(dmin * Float(sc >> 4))
            }
            for i in 0..<256 {
                let half128 = i / 128, r = i % 128, shift = (r / 32) * 2, l = r % 32
                codes[i] = Int8((byte(16 + 32 * half128 + l) >> shift) & 3)
            }
        case .q3_K:
            // hmask[0..<32], qs[32..<96], scales[96..<108], d at 108
            let d = half(108)
            for s in 0..<16 {  // 16 six-bit scales: low 4 bits from bytes 0-7, high 2 bits from bytes 8-11
                let low = s < 8 ? byte(96 + s) & 0x0F : byte(96 + s - 8) >> 4
                let high = (byte(96 + 8 + s % 4) >> (2 * (s / 4))) & 3
                scales[s] = d * Float(Int(low | high << 4) - 32)
                offsets[s] = 0
            }
            for i in 0..<256 {
                let half128 = i / 128, r = i % 128, j = r / 32, l = r % 32
                let q = Int8((byte(32 + 32 * half128 + l) >> (2 * j)) & 3)
                let set = (byte(l) >> (4 * half128 + j)) & 1 != 0
                codes[i] = q - (set ? 0 : 4)
            }
        case .q4_K, .q5_K:
            // d, dmin, 12 bytes of scales at 4, (Q5_K: 32 bytes of fifth bits at 16,) nibbles;
            // each 64 values: 32 bytes, low nibbles first, then high
            let d = half(0), dmin = half(2), nibbles = self == .q4_K ? 16 : 48
            for s in 0..<8 {
                let (sc, m) = Self.scaleMin(s, p + 4)
                scales[s] = d * Float(sc)
                offsets[s] = -(dmin * Float(m))
            }
            for i in 0..<256 {
                let chunk = i / 64, r = i % 64, l = r % 32
                let b = byte(nibbles + 32 * chunk + l)
                var q = r < 32 ? b & 0x0F : b >> 4
                if self == .q5_K, (byte(16 + l) >> (2 * chunk + r / 32)) & 1 != 0 { q += 16 }
                codes[i] = Int8(q)
            }
        case .q6_K:
            // ql[0..<128], qh[128..<192], int8 scales[192..<208], d at 208;
            // each 128 values: 64 bytes of ql, 32 of qh
            let d = half(208)
            for s in 0..<16 {
                scales[s] = d * Float(Int8(bitPattern: byte(192 + s)))
                offsets[s] = 0
            }
            for i in 0..<256 {
                let chunk = i / 128, r = i % 128, quarter = r / 32, l = r % 32
                let low = byte(64 * chunk + l + (quarter % 2) * 32)
                let nibble = quarter < 2 ? low & 0x0F : low >> 4
                let high = (byte(128 + 32 * chunk + l) >> (2 * quarter)) & 3
                codes[i] = Int8(nibble | high << 4) - 32
            }
        }
    }

    /// Q4_K's and Q5_K's 6-bit scale and min of sub-block j from their 12 bytes
    /// (ggml's get_scale_min_k4): sub-blocks 0-3 in the low 6 bits of bytes
    /// 0-3 (scales) and 4-7 (mins); 4-7 in the nibbles of bytes 8-11 with the
    /// top 2 bits in the spare high bits of bytes 0-7.
    static func scaleMin(_ j: Int, _ q: UnsafeRawPointer) -> (UInt8, UInt8) {
        func b(_ i: Int) -> UInt8 { q.load(fromByteOffset: i, as: UInt8.self) }
        if j < 4 { return (b(j) & 63, b(j + 4) & 63) }
        return ((b(j + 4) & 0x0F) | (b(j - 4) >> 6) << 4, (b(j + 4) >> 4) | (b(j) >> 6) << 4)
    }
}
