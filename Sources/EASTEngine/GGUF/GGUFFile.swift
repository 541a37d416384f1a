import Foundation

/// A GGUF file (version 2 or 3, the format of llama.cpp), read into memory and
/// checked: header, metadata key/values, the tensor table, and that every
/// tensor's bytes lie inside the file. Tensor data is converted to Float32 only
/// when asked for (`read`). All numbers are little-endian:
///
///   "GGUF"  UInt32 version  UInt64 tensorCount  UInt64 metadataCount
///   metadataCount × (string key, UInt32 type, value)
///   tensorCount   × (string name, UInt32 nDims, nDims × UInt64 dims, UInt32 ggmlType, UInt64 offset)
///   padding up to a multiple of `general.alignment` (default 32)
///   tensor data; each offset is relative to this point and aligned too
///
/// A string is a UInt64 byte count then UTF-8 bytes; an array is a UInt32
/// element type, a UInt64 count, then the elements. `dims` lists the
/// fastest-varying dimension first, so a PyTorch (out, in) matrix has dims [in, out].
public struct GGUFFile {
    public struct TensorInfo: Equatable, Sendable {
        public let name: String
        /// As in the file: fastest-varying first ([in, out] for a linear weight).
        public let dims: [Int]
        public let type: GGMLType
        /// Offset of the first byte, from the start of the file.
        let begin: Int
        public var count: Int { dims.reduce(1, *) }
        /// The PyTorch-order shape, slowest-varying first ([out, in]).
        public var shape: [Int] { dims.reversed() }
    }

    public let url: URL
    public let version: Int
    public let metadata: [String: GGUFValue]
    /// Tensors in file order.
    public let tensors: [TensorInfo]
    public let alignment: Int
    /// Each metadata entry's bytes in the file (key, type and value), in
    /// file order: what a quantized copy carries over as it is.
    let metadataEntries: [(key: String, bytes: Range<Int>)]
    private let tensorIndex: [String: Int]
    let data: Data

    public init(url: URL) throws {
        self.url = url
        let data = try CheckpointError.reading(url)
        self.data = data
        var reader = ByteReader(data: data, url: url)

        guard data.count >= 4, data.prefix(4) == Data("GGUF".utf8) else {
            throw CheckpointError(file: url, message: "not a GGUF file (bad magic \(Array(data.prefix(4))))")
        }
        reader.position = 4
        let rawVersion = try reader.uint32()
        let version = Int(rawVersion)
        guard version == 2 || version == 3 else {
            let bigEndian = rawVersion.byteSwapped == 2 || rawVersion.byteSwapped == 3
            throw CheckpointError(file: url, message: bigEndian
                ? "a big-endian GGUF file; only little-endian files are supported"
                : "GGUF version \(version) is not supported (only 2 and 3)")
        }
        self.version = version
        let tensorCount = try reader.count("tensor count")
        let metadataCount = try reader.count("metadata count")

        var metadata: [String: GGUFValue] = [:]
        var entries: [(key: String, bytes: Range<Int>)] = []
        for _ in 0..<metadataCount {
            let start = reader.position
            let key = try reader.string()
            let type = try reader.uint32()
            metadata[key] = try reader.value(typeCode: type, key: key)
            entries.append((key, start..<reader.position))
        }
        self.metadata = metadata
        metadataEntries = entries

        let alignment = metadata["general.alignment"]?.intValue ?? 32
        guard alignment > 0, alignment % 8 == 0 else {
            throw CheckpointError(file: url, message: "general.alignment \(alignment) is not a positive multiple of 8")
        }
        self.alignment = alignment

        // The table first; data offsets can only be checked once we know where data starts.
        var table: [(name: String, dims: [Int], type: GGMLType, offset: Int)] = []
        for _ in 0..<tensorCount {
            let name = try reader.string()
            let nDims = Int(try reader.uint32())
            guard nDims >= 1 && nDims <= 4 else {
                throw CheckpointError(file: url, message: "tensor \(name) has \(nDims) dimensions (1 to 4 allowed)")
            }
            var dims: [Int] = []
            for _ in 0..<nDims { dims.append(try reader.count("dimension of \(name)")) }
            let code = try reader.uint32()
            guard let type = GGMLType(rawValue: code) else {
                throw CheckpointError(file: url, message: "tensor \(name) has ggml type \(code), which we cannot read (supported: "
                    + GGMLType.allCases.map(\.name).joined(separator: ", ") + ")")
            }
            let offset = try reader.count("offset of \(name)")
            table.append((name, dims, type, offset))
        }
        let dataStart = (reader.position + alignment - 1) / alignment * alignment

        var tensors: [TensorInfo] = []
        var index: [String: Int] = [:]
        for t in table {
            func fail(_ message: String) -> CheckpointError { CheckpointError(file: url, message: "tensor \(t.name): \(message)") }
            var count = 1
            for d in t.dims {
                let (product, overflow) = count.multipliedReportingOverflow(by: d)
                guard !overflow else { throw fail("impossible dims \(t.dims)") }
                count = product
            }
            guard t.dims[0] % t.type.blockSize == 0 else {
                throw fail("row length \(t.dims[0]) is not a multiple of the \(t.type.name) block size \(t.type.blockSize)")
            }
            guard t.offset % alignment == 0 else { throw fail("data offset \(t.offset) is not aligned to \(alignment)") }
            let bytes = count / t.type.blockSize * t.type.blockBytes
            let begin = dataStart + t.offset
            guard begin <= data.count, bytes <= data.count - begin else {
                throw fail("truncated: needs bytes up to \(begin + bytes), the file has \(data.count)")
            }
            guard index[t.name] == nil else { throw fail("appears twice") }
            index[t.name] = tensors.count
            tensors.append(TensorInfo(name: t.name, dims: t.dims, type: t.type, begin: begin))
        }
        self.tensors = tensors
        self.tensorIndex = index
    }

    public subscript(tensor name: String) -> TensorInfo? {
        tensorIndex[name].map { tensors[$0] }
    }

    /// Converts tensor `name` to Float32 into `destination`, after checking it
    /// exists and has the PyTorch-order `shape`.
    public func read(_ name: String, shape: [Int], into destination: UnsafeMutablePointer<Float>) throws {
        let info = try check(name, shape: shape)
        data.withUnsafeBytes { bytes in
            info.type.dequantize(bytes.baseAddress! + info.begin, count: info.count, into: destination)
        }
    }

    /// Throws unless tensor `name` exists with the PyTorch-order `shape`.
    @discardableResult
    public func check(_ name: String, shape: [Int]) throws -> TensorInfo {
        guard let info = self[tensor: name] else {
            throw CheckpointError(file: url, message: "missing tensor \(name)")
        }
        guard info.shape == shape else {
            throw CheckpointError(file: url, message: "tensor \(name) has shape \(info.shape), the model needs \(shape)")
        }
        return info
    }

    /// Tensor `name`'s block codes when it is stored quantized, nil for
    /// float tensors; `read` must have accepted it first.
    func blockCodes(_ name: String) -> QuantizedMatrix? {
        guard let info = self[tensor: name] else { return nil }
        return data.withUnsafeBytes { bytes in info.type.blockCodes(bytes.baseAddress! + info.begin, count: info.count) }
    }

    /// Tensor `name` as Float32 values (PyTorch order), whatever its shape.
    public func values(_ name: String) throws -> [Float] {
        guard let info = self[tensor: name] else {
            throw CheckpointError(file: url, message: "missing tensor \(name)")
        }
        return try [Float](unsafeUninitializedCapacity: info.count) { buffer, initialized in
            try read(name, shape: info.shape, into: buffer.baseAddress!)
            initialized = info.count
        }
    }
}

/// Reads little-endian numbers, strings and metadata values from a Data,
/// throwing "truncated" instead of reading past its end.
private struct ByteReader {
    let data: Data
    let url: URL
    var position = 0

    func truncated(_ what: String) -> CheckpointError {
        CheckpointError(file: url, message: "truncated: file ends (\(data.count) bytes) inside \(what)")
    }

    mutating func bytes(_ n: Int, _ what: String) throws -> Data {
        guard n >= 0, n <= data.count - position else { throw truncated(what) }
        let start = data.startIndex + position
        position += n
        return data[start..<start + n]
    }

    mutating func integer<T: FixedWidthInteger>(_ type: T.Type, _ what: String = "a number") throws -> T {
        let raw = try bytes(MemoryLayout<T>.size, what)
        var value = T.zero
        withUnsafeMutableBytes(of: &value) { $0.copyBytes(from: raw) }
        return T(littleEndian: value)
    }

    mutating func uint32() throws -> UInt32 { try integer(UInt32.self) }

    /// A UInt64 used as a count, size or offset: refused when it cannot be one.
    /// Nothing in a valid file counts more than 8 per byte of the file (4-bit
    /// values are 2 per byte), so a larger number means a corrupt header, and
    /// refusing it keeps Int conversions and allocations sane.
    mutating func count(_ what: String) throws -> Int {
        let v = try integer(UInt64.self, what)
        guard v <= UInt64(data.count) * 8 + 1_000_000 else {
            throw CheckpointError(file: url, message: "corrupt: \(what) is \(v)")
        }
        return Int(v)
    }

    mutating func string() throws -> String {
        let n = try count("a string length")
        return String(decoding: try bytes(n, "a string"), as: UTF8.self)
    }

    /// Arrays may nest; a corrupt file must not nest them deep enough to overflow the stack.
    static let maxArrayDepth = 16

    mutating func value(typeCode: UInt32, key: String, depth: Int = 0) throws -> GGUFValue {
        guard depth <= Self.maxArrayDepth else {
            throw CheckpointError(file: url, message: "metadata \(key): arrays nested deeper than \(Self.maxArrayDepth)")
        }
        guard let type = GGUFValue.TypeCode(rawValue: typeCode) else {
            throw CheckpointError(file: url, message: "metadata \(key) has unknown value type \(typeCode)")
        }
        switch type {
        case .uint8: return .int(Int(try integer(UInt8.self)))
        case .int8: return .int(Int(try integer(Int8.self)))
        case .uint16: return .int(Int(try integer(UInt16.self)))
        case .int16: return .int(Int(try integer(Int16.self)))
        case .uint32: return .int(Int(try integer(UInt32.self)))
        case .int32: return .int(Int(try integer(Int32.self)))
        case .uint64:
            let v = try integer(UInt64.self)
            guard v <= UInt64(Int.max) else { throw CheckpointError(file: url, message: "metadata \(key): \(v) is too large") }
            return .int(Int(v))
        case .int64: return .int(Int(try integer(Int64.self)))
        case .float32: return .float(Double(Float(bitPattern: try integer(UInt32.self))))
        case .float64: return .float(Double(bitPattern: try integer(UInt64.self)))
        case .bool: return .bool(try integer(UInt8.self) != 0)
        case .string: return .string(try string())
        case .array:
            let elementType = try uint32()
            let n = try count("the length of array \(key)")
            var values: [GGUFValue] = []
            values.reserveCapacity(min(n, 1 << 20))
            for _ in 0..<n { values.append(try value(typeCode: elementType, key: key, depth: depth + 1)) }
            return .array(values)
        }
    }
}
