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
        func half(_ offset: Int) -> Float {
            Float(Float16(bitPattern: UInt16(littleEndian: source.loadUnaligned(fromByteOffset: offset, as: UInt16.self))))
        }
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
