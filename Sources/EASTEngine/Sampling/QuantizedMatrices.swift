import CKernels

/// One matrix as GGUF stores it quantized, unpacked to one signed byte per
/// value: value[n][k] = scales[n][k / sub] * codes[n][k] + offsets[n][k / sub],
/// a multiply then an add in Float32, exactly as the loader dequantizes
/// (`GGMLType.blockCodes`), sub = `type.subBlock` (32, or 16 for Q2_K, Q3_K
/// and Q6_K). The decode kernels repack the codes into integer panels at
/// close to the file's density (`PackedWeights`).
public struct QuantizedMatrix: Sendable {
    public let type: GGMLType
    /// (rows, columns)
    public let codes: [Int8]
    /// (rows, columns / sub) each
    public let scales: [Float]
    public let offsets: [Float]

    public init(type: GGMLType, codes: [Int8], scales: [Float], offsets: [Float]) {
        (self.type, self.codes, self.scales, self.offsets) = (type, codes, scales, offsets)
    }

    /// How the integer panels hold this type's codes: bits of the unsigned
    /// code u = code - lowest (8: signed codes, no offsets).
    var panelFormat: (bits: Int32, lowest: Int32) {
        switch type {
        case .q8_0: (8, 0)
        case .q4_0: (4, -8)
        case .q4_1, .q4_K, .q2_K: (4, 0)
        case .q3_K: (4, -4)
        case .q5_0: (5, -16)
        case .q5_1, .q5_K: (5, 0)
        case .q6_K: (6, -32)
        case .f32, .f16, .bf16: preconditionFailure("\(type.name) has no codes")
        }
    }

    /// The same matrix with its rows in the order `GGUFModel.unpermuteRoPERows`
    /// gives the Float32 weights.
    func rowsUnpermuted(heads: Int, headDim: Int) -> QuantizedMatrix {
        // where each row goes: unpermute the row numbers themselves
        var order = (0..<(heads * headDim)).map(Float.init)
        order.withUnsafeMutableBufferPointer { GGUFModel.unpermuteRoPERows($0.baseAddress!, heads: heads, headDim: headDim, columns: 1) }
        let rows = order.count, columns = codes.count / rows, subs = columns / type.subBlock
        var c = codes, s = scales, o = offsets
        for (to, from) in order.map({ Int($0) }).enumerated() {
            for k in 0..<columns { c[to * columns + k] = codes[from * columns + k] }
            for b in 0..<subs {
                s[to * subs + b] = scales[from * subs + b]
                o[to * subs + b] = offsets[from * subs + b]
            }
        }
        return QuantizedMatrix(type: type, codes: c, scales: s, offsets: o)
    }
}

/// The quantized source of a model's matrices, by parameter offset.
///
/// Decoding reads every weight once per step; from these codes the decode
/// kernels read 5 to 8.5 bits a weight instead of 32 and multiply in
/// integers (see `PackedWeights`). Valid only for the parameters as loaded:
/// once training writes the base weights (`parameterVersion` moves),
/// samplers fall back to the Float32 weights.
public final class QuantizedMatrices: @unchecked Sendable {
    /// The model version the codes describe.
    public let version: Int
    let matrices: [Int: QuantizedMatrix]

    /// Keeps only the matrices whose codes rebuild the model's weights bit
    /// for bit (all of them, unless the loader and the codes disagree), so
    /// that the integer kernels always stand for the weights the Float32
    /// path reads.
    init(model: Transformer, matrices: [Int: QuantizedMatrix]) {
        version = model.parameterVersion
        let p = model.parameters.pointer
        self.matrices = matrices.filter { offset, m in
            m.codes.withUnsafeBufferPointer { codes in
                let sub = m.type.subBlock
                for b in 0..<m.scales.count {  // sub-blocks, row after row
                    let (d, o) = (m.scales[b], m.offsets[b])
                    for i in (b * sub)..<(b * sub + sub) where d * Float(codes[i]) + o != p[offset + i] { return false }
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
