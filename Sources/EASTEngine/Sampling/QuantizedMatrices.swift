import CKernels

/// One matrix as GGUF stores it quantized, unpacked to one signed byte per
/// value: value[n][k] = scales[n][k / 32] * codes[n][k] + offsets[n][k / 32],
/// a multiply then an add in Float32, exactly as the loader dequantizes Q4_1
/// (Q8_0 and Q4_0 have offset 0: the +0 changes no product). The decode
/// kernel's panels store the codes at the file's density again (`format`).
public struct QuantizedMatrix: Sendable {
    /// (rows, columns)
    public let codes: [Int8]
    /// (rows, columns / 32) each
    public let scales: [Float]
    public let offsets: [Float]
    /// How the code panels hold the codes (EAST_CODES_*): 4 bits when they
    /// all fit, -8..7 (Q4_0) or 0..15 (Q4_1), else one byte (Q8_0).
    let format: Int32
    /// false when every offset is +0 (Q8_0, Q4_0): the panels then leave them out.
    let hasOffsets: Bool

    public init(codes: [Int8], scales: [Float], offsets: [Float]) {
        (self.codes, self.scales, self.offsets) = (codes, scales, offsets)
        let (low, high) = codes.reduce((Int8.max, Int8.min)) { (min($0.0, $1), max($0.1, $1)) }
        format = low >= 0 && high <= 15 ? Int32(EAST_CODES_4_UNSIGNED)
            : low >= -8 && high <= 7 ? Int32(EAST_CODES_4_SIGNED) : Int32(EAST_CODES_8)
        hasOffsets = offsets.contains { $0.bitPattern != 0 }
    }

    /// The same matrix with its rows in the order `GGUFModel.unpermuteRoPERows`
    /// gives the Float32 weights.
    func rowsUnpermuted(heads: Int, headDim: Int) -> QuantizedMatrix {
        // where each row goes: unpermute the row numbers themselves
        var order = (0..<(heads * headDim)).map(Float.init)
        order.withUnsafeMutableBufferPointer { GGUFModel.unpermuteRoPERows($0.baseAddress!, heads: heads, headDim: headDim, columns: 1) }
        let rows = order.count, columns = codes.count / rows, blocks = columns / 32
        var c = codes, s = scales, o = offsets
        for (to, from) in order.map({ Int($0) }).enumerated() {
            for k in 0..<columns { c[to * columns + k] = codes[from * columns + k] }
            for b in 0..<blocks {
                s[to * blocks + b] = scales[from * blocks + b]
                o[to * blocks + b] = offsets[from * blocks + b]
            }
        }
        return QuantizedMatrix(codes: c, scales: s, offsets: o)
    }
}

/// The quantized source of a model's matrices, by parameter offset.
///
/// Decoding reads every weight once per step, so it is bound by memory
/// bandwidth; from these codes a weight costs 1.25 bytes instead of 4, and
/// the decode kernel rebuilds the exact Float32 value, so the numbers do not
/// change. Valid only for the parameters as loaded: once training writes the
/// base weights (`parameterVersion` moves), samplers fall back to Float32.
public final class QuantizedMatrices: @unchecked Sendable {
    /// The model version the codes describe.
    public let version: Int
    let matrices: [Int: QuantizedMatrix]

    /// Keeps only the matrices whose codes reproduce the model's weights bit
    /// for bit (all of them, unless the loader and the codes disagree) and
    /// whose scales and offsets are float16 values (as GGUF stores them; the
    /// panels keep them so), so that using the codes can never change a result.
    init(model: Transformer, matrices: [Int: QuantizedMatrix]) {
        version = model.parameterVersion
        let p = model.parameters.pointer
        func isHalf(_ x: Float) -> Bool { Float(Float16(x)).bitPattern == x.bitPattern }
        self.matrices = matrices.filter { offset, m in
            guard m.scales.allSatisfy(isHalf), m.offsets.allSatisfy(isHalf) else { return false }
            return m.codes.withUnsafeBufferPointer { codes in
                for b in 0..<m.scales.count {  // blocks of 32 values, row after row
                    let (d, o) = (m.scales[b], m.offsets[b])
                    for i in (b * 32)..<(b * 32 + 32) where d * Float(codes[i]) + o != p[offset + i] { return false }
                }
                return true
            }
        }
    }

    /// The codes of the matrix at `offset`, while the model is as loaded.
    func matrix(at offset: Int, for model: Transformer) -> QuantizedMatrix? {
        model.parameterVersion == version ? matrices[offset] : nil
    }
}
