/// Keys and values of every position seen so far, per layer and per row, so
/// that decoding one more token costs one position's work instead of the
/// whole sequence's.
///
/// Each row is one sample and keeps its own length: the samples of one
/// prompt start equal (one prefill, shared), samples of different prompts
/// start at different lengths, and a finished sample stops growing.
///
/// Keys are stored in blocks of 16 positions, (capacity / 16, kvDim, 16) per
/// layer and row, so that one vector load holds one column of 16 positions
/// and the attention kernel needs no horizontal sums, and so that appending
/// a position writes kvDim floats 64 bytes apart, one contiguous run of
/// cache lines (with keys simply transposed, they were a row length apart
/// and the prefetcher could not follow); values are stored by head and
/// then by position, (kvHeads, capacity, headDim), as the weighted sum over
/// positions reads them: one head's values are one contiguous run, which the
/// hardware prefetcher follows better than one head's slice of every position.
final class KVCache {
    let layers: Int
    let rows: Int
    /// Positions each row can hold (a multiple of 16: whole key blocks).
    let capacity: Int
    let kvHeads: Int
    let headDim: Int
    var kvDim: Int { kvHeads * headDim }
    /// Positions filled in each row (its next token goes at this position).
    var lengths: [Int]
    /// Row r's positions below prefixLengths[r] live in row prefixRows[r]
    /// (the prompt it shares with other samples; 0 and itself when none).
    private(set) var prefixRows: [Int]
    private(set) var prefixLengths: [Int]
    /// keys: (layers, rows, capacity / 16, kvDim, 16); values: (layers, rows, kvHeads, capacity, headDim)
    let keys: FloatBuffer
    let values: FloatBuffer

    init(config: ModelConfig, rows: Int, capacity: Int) {
        layers = config.layers
        self.rows = rows
        self.capacity = (capacity + 15) / 16 * 16
        kvHeads = config.kvHeads
        headDim = config.headDim
        lengths = [Int](repeating: 0, count: rows)
        prefixRows = Array(0..<rows)
        prefixLengths = [Int](repeating: 0, count: rows)
        keys = FloatBuffer(count: layers * rows * self.capacity * config.kvDim, streamed: true)
        values = FloatBuffer(count: layers * rows * self.capacity * config.kvDim, streamed: true)
    }

    /// Offset of (layer, row) in `keys` and `values`: each holds capacity x kvDim floats.
    @inline(__always) func offset(layer: Int, row: Int) -> Int {
        (layer * rows + row) * capacity * kvDim
    }

    /// The layout within one (layer, row), in floats, as `east_attend_one`
    /// takes it: from one block of 16 positions' keys to the next, from one
    /// position's values to the next, from one head's values to the next.
    var keyBlockStride: Int { kvDim * 16 }
    var valueStride: Int { headDim }
    var valueHeadStride: Int { capacity * headDim }

    /// Writes the keys and values (kvDim each) of `position` in (layer, row).
    func append(layer: Int, row: Int, position: Int, key: UnsafePointer<Float>, value: UnsafePointer<Float>) {
        let base = offset(layer: layer, row: row)
        let block = keys.at(base + position / 16 * keyBlockStride + position % 16)
        for c in 0..<kvDim { block[c * 16] = key[c] }
        for g in 0..<kvHeads {
            values.at(base + g * valueHeadStride + position * valueStride).update(from: value + g * headDim, count: headDim)
        }
    }

    func reset() { reset(rows: 0..<rows) }

    /// Empties some rows (a freed block, for the next request); rows that
    /// share a prefix are always in the same block.
    func reset(rows range: Range<Int>) {
        for r in range { lengths[r] = 0; prefixLengths[r] = 0; prefixRows[r] = r }
    }

    /// Gives `targets` row `source`'s positions as their shared prefix: after
    /// one prefill of a prompt, every sample of it starts from the same keys
    /// and values, read from `source` (not copied), so a decode step reads
    /// them once for all the samples and then finds them in the cache.
    /// Each target appends its own positions after the prefix.
    func share(_ source: Int, with targets: Range<Int>) {
        let length = lengths[source]
        for row in targets where row != source {
            prefixRows[row] = source
            prefixLengths[row] = length
            lengths[row] = length
        }
    }
}
