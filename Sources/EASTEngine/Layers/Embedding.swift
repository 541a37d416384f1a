/// Token embedding: row `tokens[n]` of the (vocab, C) table becomes row n of the output.
enum Embedding {
    /// out: (N, C), tokens: (N), table: (V, C)
    static func forward(
        out: UnsafeMutablePointer<Float>, tokens: UnsafePointer<Int32>, table: UnsafePointer<Float>,
        N: Int, C: Int
    ) {
        for n in 0..<N {
            (out + n * C).update(from: table + Int(tokens[n]) * C, count: C)
        }
    }

    /// dtable[tokens[n]] += dout[n]  (a token seen twice gets both gradients)
    static func backward(
        dtable: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, tokens: UnsafePointer<Int32>,
        N: Int, C: Int
    ) {
        for n in 0..<N {
            let row = dtable + Int(tokens[n]) * C
            let d = dout + n * C
            for i in 0..<C { row[i] += d[i] }
        }
    }
}
