import Foundation

/// `east model quantize`: a GGUF file's copy with its matrices in the types
/// of a `QuantizationMix`, as llama.cpp's quantizer would choose them, so
/// that tests and benchmarks make their own Q4_K_M, Q5_K_M, ... files from
/// the one model they have. Metadata entries are carried over byte for byte
/// (general.file_type set to the mix's); 1-D tensors (norms, biases,
/// rope_freqs) are copied as they are; every 2-D tensor is dequantized and
/// quantized again (from a quantized file, so its error adds to the file's).
extension GGUFFile {
    /// The copy's bytes, and how many tensors of each type it holds.
    public func quantizedCopy(mix: QuantizationMix) throws -> (data: Data, types: [GGMLType: Int]) {
        let layers = metadata[(metadata["general.architecture"]?.stringValue ?? "llama") + ".block_count"]?.intValue ?? 0
        let tiedHead = self[tensor: "output.weight"] == nil
        var tensorsOut: [(info: TensorInfo, type: GGMLType, bytes: Data)] = []
        var types: [GGMLType: Int] = [:]
        for t in tensors {
            var type = t.type, bytes = data[t.begin..<(t.begin + t.count / t.type.blockSize * t.type.blockBytes)]
            if t.dims.count == 2 {
                let target = mix.type(of: t.name, columns: t.dims[0], layers: layers, tiedHead: tiedHead)
                let values = try self.values(t.name)
                if let blocks = values.withUnsafeBufferPointer({ target.quantize($0) }) {
                    (type, bytes) = (target, Data(blocks))
                }
            }
            types[type, default: 0] += 1
            tensorsOut.append((t, type, bytes))
        }

        var out = Data("GGUF".utf8)
        func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func put(_ s: String) {
            put(UInt64(s.utf8.count))
            out.append(contentsOf: s.utf8)
        }
        func pad() { while out.count % alignment != 0 { out.append(0) } }
        let kept = metadataEntries.filter { $0.key != "general.file_type" }
        put(UInt32(3))
        put(UInt64(tensorsOut.count))
        put(UInt64(kept.count + 1))
        for entry in kept { out.append(data[entry.bytes]) }
        put("general.file_type")
        put(UInt32(4))  // uint32
        put(UInt32(mix.fileType))
        var offset = 0
        for t in tensorsOut {
            put(t.info.name)
            put(UInt32(t.info.dims.count))
            for d in t.info.dims { put(UInt64(d)) }
            put(t.type.rawValue)
            put(UInt64(offset))
            offset = (offset + t.bytes.count + alignment - 1) / alignment * alignment
        }
        pad()
        for t in tensorsOut {
            out.append(t.bytes)
            pad()
        }
        return (out, types)
    }
}
