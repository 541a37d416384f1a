/// Tensor element types of ggml that we turn into Float32 when loading.
///
/// The quantized types store a row in blocks of 32 values that share a scale:
///   Q8_0  34 bytes: f16 scale d, 32 × int8 q          value = d · q
///   Q4_0  18 bytes: f16 scale d, 16 bytes of nibbles  value = d · (q − 8)
///   Q4_1  20 bytes: f16 scale d, f16 min m, 16 bytes  value = d · q + m
/// In Q4_*, byte j holds value j in its low nibble and value j + 16 in its high one.
/// SmolLM2-135M-Instruct.Q4_1.gguf uses F32 (norms), Q8_0 (embedding) and Q4_1 (the rest).
public enum GGMLType: UInt32, Sendable {
    case f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q8_0 = 8, bf16 = 30

    /// Values per block (1 for the plain float types).
    public var blockSize: Int {
        switch self {
        case .f32, .f16, .bf16: 1
        case .q4_0, .q4_1, .q8_0: 32
        }
    }

    /// Bytes per block.
    public var blockBytes: Int {
        switch self {
        case .f32: 4
        case .f16, .bf16: 2
        case .q4_0: 18
        case .q4_1: 20
        case .q8_0: 34
        }
    }

    public var name: String {
        switch self {
        case .f32: "F32"
        case .f16: "F16"
        case .bf16: "BF16"
        case .q4_0: "Q4_0"
        case .q4_1: "Q4_1"
        case .q8_0: "Q8_0"
        }
    }

    /// Converts `count` values (a multiple of blockSize) starting at `source` into Float32.
    func dequantize(_ source: UnsafeRawPointer, count: Int, into out: UnsafeMutablePointer<Float>) {
        func half(_ offset: Int) -> Float { Self.half(source, offset) }
        switch self {
        case .f32:
            for i in 0..<count {
                out[i] = Float(bitPattern: UInt32(littleEndian: source.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
            }
        case .f16:
            for i in 0..<count { out[i] = half(2 * i) }
        case .bf16:  // bfloat16 is the top half of a float32
            for i in 0..<count {
                let bits = UInt16(littleEndian: source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
                out[i] = Float(bitPattern: UInt32(bits) << 16)
            }
        case .q8_0:
            for b in 0..<count / 32 {
                let block = b * 34
                let d = half(block)
                for j in 0..<32 {
                    let q = Int8(bitPattern: source.load(fromByteOffset: block + 2 + j, as: UInt8.self))
                    out[b * 32 + j] = d * Float(q)
                }
            }
        case .q4_0:
            for b in 0..<count / 32 {
                let block = b * 18
                let d = half(block)
                for j in 0..<16 {
                    let byte = source.load(fromByteOffset: block + 2 + j, as: UInt8.self)
                    out[b * 32 + j] = d * Float(Int(byte & 0x0F) - 8)
                    out[b * 32 + j + 16] = d * Float(Int(byte >> 4) - 8)
                }
            }
        case .q4_1:
            for b in 0..<count / 32 {
                let block = b * 20
                let d = half(block)
                let m = half(block + 2)
                for j in 0..<16 {
                    let byte = source.load(fromByteOffset: block + 4 + j, as: UInt8.self)
                    out[b * 32 + j] = d * Float(byte & 0x0F) + m
                    out[b * 32 + j + 16] = d * Float(byte >> 4) + m
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

    /// The blocks of a Q8_0, Q4_0 or Q4_1 tensor as one signed byte per value
    /// and a scale and offset per 32 values, value = scale * code + offset,
    /// so that the decode kernel can rebuild exactly what `dequantize` gives
    /// (Q8_0: code q, offset 0; Q4_0: code q - 8, offset 0; Q4_1: code q,
    /// offset m). Nil for the float types.
    func blockCodes(_ source: UnsafeRawPointer, count: Int) -> QuantizedMatrix? {
        func half(_ offset: Int) -> Float { Self.half(source, offset) }
        let blocks = count / 32
        var codes = [Int8](repeating: 0, count: count)
        var scales = [Float](repeating: 0, count: blocks), offsets = [Float](repeating: 0, count: blocks)
        switch self {
        case .f32, .f16, .bf16:
            return nil
        case .q8_0:
            for b in 0..<blocks {
                scales[b] = half(b * 34)
                for j in 0..<32 { codes[b * 32 + j] = Int8(bitPattern: source.load(fromByteOffset: b * 34 + 2 + j, as: UInt8.self)) }
            }
        case .q4_0, .q4_1:
            let bytes = self == .q4_0 ? 18 : 20, shift: Int8 = self == .q4_0 ? 8 : 0
            for b in 0..<blocks {
                scales[b] = half(b * bytes)
                if self == .q4_1 { offsets[b] = half(b * bytes + 2) }
                for j in 0..<16 {
                    let byte = source.load(fromByteOffset: b * bytes + bytes - 16 + j, as: UInt8.self)
                    codes[b * 32 + j] = Int8(byte & 0x0F) - shift
                    codes[b * 32 + j + 16] = Int8(byte >> 4) - shift
                }
            }
        }
        return QuantizedMatrix(codes: codes, scales: scales, offsets: offsets)
    }
}

