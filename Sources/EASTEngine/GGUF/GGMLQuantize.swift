/// ggml's reference quantizers (`quantize_row_q8_0_ref`, `_q4_0_ref`,
/// `_q4_1_ref`), for benchmarks of real model shapes with random weights as
/// llama.cpp would store them (`east bench engine --shape ... --quantize`):
/// the bytes they write are read back by `dequantize` and `blockCodes`, the
/// loader's own path for a GGUF file.
extension GGMLType {
    /// The ggml blocks of `values` (a multiple of 32). Nil for the float types.
    func quantize(_ values: UnsafeBufferPointer<Float>) -> [UInt8]? {
        guard blockSize == 32, values.count % 32 == 0 else { return nil }
        var out = [UInt8](repeating: 0, count: values.count / 32 * blockBytes)
        func putHalf(_ x: Float, at offset: Int) -> Float {
            let h = Float16(x)
            out[offset] = UInt8(h.bitPattern & 0xFF)
            out[offset + 1] = UInt8(h.bitPattern >> 8)
            return Float(h)
        }
        for b in 0..<values.count / 32 {
            let x = values[(b * 32)..<(b * 32 + 32)], o = b * blockBytes
            switch self {
            case .q8_0:
                let amax = x.reduce(0) { max($0, abs($1)) }
                let d = amax / 127, id: Float = d != 0 ? 1 / d : 0
                _ = putHalf(d, at: o)
                for (j, v) in x.enumerated() { out[o + 2 + j] = UInt8(bitPattern: Int8((v * id).rounded())) }
            case .q4_0:
                let extreme = x.max { abs($0) < abs($1) }!  // the signed value of largest magnitude
                let d = extreme / -8, id: Float = d != 0 ? 1 / d : 0
                _ = putHalf(d, at: o)
                for j in 0..<16 {
                    let lo = min(15, UInt8(x[x.startIndex + j] * id + 8.5)), hi = min(15, UInt8(x[x.startIndex + j + 16] * id + 8.5))
                    out[o + 2 + j] = lo | hi << 4
                }
            case .q4_1:
                let low = x.min()!, high = x.max()!
                let d = (high - low) / 15, id: Float = d != 0 ? 1 / d : 0
                _ = putHalf(d, at: o)
                _ = putHalf(low, at: o + 2)
                for j in 0..<16 {
                    let lo = min(15, UInt8((x[x.startIndex + j] - low) * id + 0.5))
                    let hi = min(15, UInt8((x[x.startIndex + j + 16] - low) * id + 0.5))
                    out[o + 4 + j] = lo | hi << 4
                }
            case .f32, .f16, .bf16:
                return nil
            }
        }
        return out
    }
}

extension Transformer {
    /// Replaces every weight matrix (the embedding too; not the norms and
    /// biases) by its `type` blocks, dequantized, and keeps the codes for the
    /// sampler, as loading a GGUF file of that type would.
    public func quantizeMatrices(to type: GGMLType) {
        var codes: [Int: QuantizedMatrix] = [:]
        for e in layout.entries where e.isMatrix {
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
