/// Keys and values of every position seen so far, per layer and per row, so
/// that decoding one more token costs one position's work instead of the
/// whole sequence's.
///
/// Each row is one sample and keeps its own length: the samples of one
/// prompt start equal (one prefill, copied), samples of different prompts
/// start at different lengths, and a finished sample stops growing.
///
/// Keys are stored transposed, (kvHeads, headDim, capacity) per layer and
/// row, so that one vector load holds one column of 16 positions and the
/// attention kernel needs no horizontal sums; values are stored by
/// position, (capacity, kvDim), as the weighted sum over positions reads them.
final class KVCache {
    let layers: Int
    let rows: Int
    /// Positions each row can hold.
    let capacity: Int
    let kvDim: Int
    /// Positions filled in each row (its next token goes at this position).
    var lengths: [Int]
    /// keys: (layers, rows, kvDim, capacity); values: (layers, rows, capacity, kvDim)
    let keys: FloatBuffer
    let values: FloatBuffer

    init(config: ModelConfig, rows: Int, capacity: Int) {
        layers = config.layers
        self.rows = rows
        self.capacity = capacity
        kvDim = config.kvDim
        lengths = [Int](repeating: 0, count: rows)
        keys = FloatBuffer(count: layers * rows * capacity * kvDim, streamed: true)
        values = FloatBuffer(count: layers * rows * capacity * kvDim, streamed: true)
    }

    /// Offset of (layer, row) in `keys` and `values`: each holds capacity x kvDim floats.
    @inline(__always) func offset(layer: Int, row: Int) -> Int {
        (layer * rows + row) * capacity * kvDim
    }

    /// Writes the keys and values (kvDim each) of `position` in (layer, row).
    func append(layer: Int, row: Int, position: Int, key: UnsafePointer<Float>, value: UnsafePointer<Float>) {
        let base = offset(layer: layer, row: row)
        let keysT = keys.at(base)
        for c in 0..<kvDim { keysT[c * capacity + position] = key[c] }
        values.at(base + position * kvDim).update(from: value, count: kvDim)
    }

    func reset() {
        for r in 0..<rows { lengths[r] = 0 }
    }

    /// Copies row `source`'s positions to `targets`: after one prefill of a
    /// shared prompt, every sample of it starts from the same keys and values.
    func copyRow(_ source: Int, to targets: Range<Int>) {
        let length = lengths[source]
        for layer in 0..<layers {
            let from = offset(layer: layer, row: source)
            for row in targets where row != source {
                let to = offset(layer: layer, row: row)
                for c in 0..<kvDim {  // the filled start of each key column
                    keys.at(to + c * capacity).update(from: keys.at(from + c * capacity), count: length)
                }
                values.at(to).update(from: values.at(from), count: length * kvDim)
            }
        }
        for row in targets { lengths[row] = length }
    }
}
