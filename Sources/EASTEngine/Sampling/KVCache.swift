/// Keys and values of every position seen so far, per layer and per row, so
/// that decoding one more token costs one position's work instead of the
/// whole sequence's.
///
/// Each row is one sample and keeps its own length: the samples of one
/// prompt start equal (one prefill, copied), samples of different prompts
/// start at different lengths, and a finished sample stops growing.
final class KVCache {
    let layers: Int
    let rows: Int
    /// Positions each row can hold.
    let capacity: Int
    let kvDim: Int
    /// Positions filled in each row (its next token goes at this position).
    var lengths: [Int]
    /// keys, values: (layers, rows, capacity, kvDim)
    let keys: FloatBuffer
    let values: FloatBuffer

    init(config: ModelConfig, rows: Int, capacity: Int) {
        layers = config.layers
        self.rows = rows
        self.capacity = capacity
        kvDim = config.kvDim
        lengths = [Int](repeating: 0, count: rows)
        keys = FloatBuffer(count: layers * rows * capacity * kvDim)
        values = FloatBuffer(count: layers * rows * capacity * kvDim)
    }

    /// Offset of (layer, row, position) in `keys` / `values`.
    @inline(__always) func offset(layer: Int, row: Int, position: Int) -> Int {
        ((layer * rows + row) * capacity + position) * kvDim
    }

    func reset() {
        for r in 0..<rows { lengths[r] = 0 }
    }

    /// Copies row `source`'s positions to `targets`: after one prefill of a
    /// shared prompt, every sample of it starts from the same keys and values.
    func copyRow(_ source: Int, to targets: Range<Int>) {
        let count = lengths[source] * kvDim
        for layer in 0..<layers {
            let from = offset(layer: layer, row: source, position: 0)
            for row in targets where row != source {
                let to = offset(layer: layer, row: row, position: 0)
                keys.at(to).update(from: keys.at(from), count: count)
                values.at(to).update(from: values.at(from), count: count)
            }
        }
        for row in targets { lengths[row] = lengths[source] }
    }
}
