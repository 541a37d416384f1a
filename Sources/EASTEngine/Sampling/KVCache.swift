/// Keys and values of every position seen so far, per layer and per row, so
/// that decoding one more token costs one position's work instead of the
/// whole sequence's.
///
/// All rows hold the same number of positions (`length`): the rows of one
/// request share the prompt and then advance one token per step together.
final class KVCache {
    let layers: Int
    let rows: Int
    /// Positions each row can hold.
    let capacity: Int
    let kvDim: Int
    /// Positions filled so far (the next token goes at this position).
    internal(set) var length = 0
    /// keys, values: (layers, rows, capacity, kvDim)
    let keys: FloatBuffer
    let values: FloatBuffer

    init(config: ModelConfig, rows: Int, capacity: Int) {
        layers = config.layers
        self.rows = rows
        self.capacity = capacity
        kvDim = config.kvDim
        keys = FloatBuffer(count: layers * rows * capacity * kvDim)
        values = FloatBuffer(count: layers * rows * capacity * kvDim)
    }

    /// Offset of (layer, row, position) in `keys` / `values`.
    @inline(__always) func offset(layer: Int, row: Int, position: Int) -> Int {
        ((layer * rows + row) * capacity + position) * kvDim
    }

    func reset() { length = 0 }

    /// Copies row 0's positions to rows 1..<count: after one prefill of a
    /// shared prompt, every sample starts from the same keys and values.
    func broadcastFirstRow(to count: Int) {
        precondition(count <= rows)
        for layer in 0..<layers {
            let source = offset(layer: layer, row: 0, position: 0)
            for row in 1..<max(count, 1) {
                let target = offset(layer: layer, row: row, position: 0)
                keys.at(target).update(from: keys.at(source), count: length * kvDim)
                values.at(target).update(from: values.at(source), count: length * kvDim)
            }
        }
    }
}
