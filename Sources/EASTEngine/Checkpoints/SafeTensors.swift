import EASTCore
import Foundation

/// The safetensors format (Hugging Face). We write F32; we read F32, and BF16
/// or F16 converted to F32 (Hub checkpoints such as SmolLM2 ship in BF16):
///   8 bytes   little-endian UInt64 N, the header's length
///   N bytes   JSON: {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
///                    "__metadata__": {"key": "string", ...}}   (padded with spaces)
///   the rest  raw little-endian tensor data; offsets are relative to its start
public enum SafeTensors {
    public struct TensorData {
        public let name: String
        public let shape: [Int]
        public let values: UnsafeBufferPointer<Float>
        public init(name: String, shape: [Int], values: UnsafeBufferPointer<Float>) {
            self.name = name
            self.shape = shape
            self.values = values
        }
    }

    /// One tensor's header entry.
    struct Entry: Encodable {
        var dtype = "F32"
        var shape: [Int]
        var dataOffsets: [Int]
        enum CodingKeys: String, CodingKey { case dtype, shape, dataOffsets = "data_offsets" }
    }

    /// The header: each tensor's entry by name, and `__metadata__`.
    struct Header: Encodable {
        var tensors: [String: Entry]
        var metadata: [String: String]

        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: AnyCodingKey.self)
            for (name, entry) in tensors { try c.encode(entry, forKey: AnyCodingKey(stringValue: name)) }
            if !metadata.isEmpty { try c.encode(metadata, forKey: AnyCodingKey(stringValue: "__metadata__")) }
        }
    }

    /// Writes the tensors, in the given order, atomically.
    public static func write(_ tensors: [TensorData], metadata: [String: String] = [:], to url: URL) throws {
        var entries: [String: Entry] = [:]
        var offset = 0
        for t in tensors {
            precondition(t.values.count == t.shape.reduce(1, *), "\(t.name): shape does not match its values")
            let end = offset + t.values.count * 4
            precondition(entries[t.name] == nil, "\(t.name): two tensors of one name")
            entries[t.name] = Entry(shape: t.shape, dataOffsets: [offset, end])
            offset = end
        }
        var header = Array(try JSONCoding.encode(Header(tensors: entries, metadata: metadata)))
        while header.count % 8 != 0 { header.append(UInt8(ascii: " ")) }  // data starts 8-aligned

        try AtomicFile.write(to: url) { file in
            try file.write(contentsOf: withUnsafeBytes(of: UInt64(header.count).littleEndian) { Data($0) })
            try file.write(contentsOf: header)
            for t in tensors where !t.values.isEmpty {
                try file.write(contentsOf: Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: t.values.baseAddress!),
                                                count: t.values.count * 4, deallocator: .none))
            }
        }
    }
}

/// A safetensors file read into memory and checked: every tensor's bytes lie
/// inside the file and match its dtype and shape.
public struct SafeTensorsFile {
    /// Element types we can read; all become Float32 in memory.
    public enum DType: String, Sendable {
        case f32 = "F32", bf16 = "BF16", f16 = "F16"
        var size: Int { self == .f32 ? 4 : 2 }
    }

    public struct Info: Equatable, Sendable {
        public let dtype: DType
        public let shape: [Int]
        let begin: Int
        let end: Int
    }

    public let url: URL
    public let tensors: [String: Info]
    public let metadata: [String: String]
    private let data: Data
    private let dataStart: Int

    public init(url: URL) throws {
        self.url = url
        let data = try CheckpointError.reading(url)
        self.data = data
        func fail(_ message: String) -> CheckpointError { CheckpointError(file: url, message: message) }
        guard data.count >= 8 else { throw fail("truncated: \(data.count) bytes, no header length") }
        var headerLength: UInt64 = 0
        withUnsafeMutableBytes(of: &headerLength) { $0.copyBytes(from: data.prefix(8)) }
        headerLength = UInt64(littleEndian: headerLength)
        guard headerLength <= UInt64(data.count - 8) else {
            throw fail("truncated: header of \(headerLength) bytes but only \(data.count - 8) follow")
        }
        let dataStart = 8 + Int(headerLength)
        self.dataStart = dataStart
        let dataSize = data.count - dataStart
        let object: JSON
        do {
            object = try JSON.parse(String(decoding: data.subdata(in: 8..<dataStart), as: UTF8.self))
        } catch {
            throw fail("corrupt header: not JSON (\(error))")
        }
        guard case let .object(header) = object else { throw fail("corrupt header: not a JSON object") }

        /// A list of integers, or nil if any element is not one.
        func integers(_ value: JSON?) -> [Int]? {
            func integer(_ v: JSON) -> Int? {
                if let i = v.intValue { return i }
                guard let x = v.numberValue, x.rounded() == x, x > 0 else { return nil }
                return Int.max  // past Int's range: an impossible size, refused below
            }
            guard let list = value?.arrayValue else { return nil }
            let ints = list.compactMap(integer)
            return ints.count == list.count ? ints : nil
        }
        var tensors: [String: Info] = [:]
        var metadata: [String: String] = [:]
        for (name, value) in header {
            if name == "__metadata__" {
                for (key, text) in value.objectValue ?? [] { if let text = text.stringValue { metadata[key] = text } }
                continue
            }
            guard let dtype = value["dtype"]?.stringValue,
                  let shape = integers(value["shape"]),
                  let offsets = integers(value["data_offsets"]), offsets.count == 2
            else { throw fail("corrupt header entry for tensor \(name)") }
            guard let type = DType(rawValue: dtype) else {
                throw fail("tensor \(name) has dtype \(dtype); only F32, BF16 and F16 are supported")
            }
            let (begin, end) = (offsets[0], offsets[1])
            guard shape.allSatisfy({ $0 >= 0 }), begin >= 0, begin <= end else {
                throw fail("tensor \(name) has invalid shape \(shape) or offsets \(offsets)")
            }
            // element count, refusing shapes whose product overflows (a corrupt header must not trap)
            var bytes = type.size
            for dim in shape {
                let (product, overflow) = bytes.multipliedReportingOverflow(by: dim)
                guard !overflow else { throw fail("tensor \(name) has an impossible shape \(shape)") }
                bytes = product
            }
            guard end - begin == bytes else {
                throw fail("tensor \(name): \(end - begin) bytes do not hold shape \(shape) in \(dtype)")
            }
            guard end <= dataSize else {
                throw fail("truncated: tensor \(name) needs bytes up to \(end), file data has \(dataSize)")
            }
            tensors[name] = Info(dtype: type, shape: shape, begin: begin, end: end)
        }
        self.tensors = tensors
        self.metadata = metadata
    }

    /// Throws unless tensor `name` exists with `shape`.
    @discardableResult
    public func check(_ name: String, shape: [Int]) throws -> Info {
        guard let info = tensors[name] else {
            throw CheckpointError(file: url, message: "missing tensor \(name)")
        }
        guard info.shape == shape else {
            throw CheckpointError(file: url, message: "tensor \(name) has shape \(info.shape), the config needs \(shape)")
        }
        return info
    }

    /// Copies tensor `name` into `destination`, after checking it exists and has `shape`.
    public func read(_ name: String, shape: [Int], into destination: UnsafeMutablePointer<Float>) throws {
        let info = try check(name, shape: shape)
        data.withUnsafeBytes { bytes in
            let source = bytes.baseAddress! + dataStart + info.begin
            let count = (info.end - info.begin) / info.dtype.size
            switch info.dtype {
            case .f32:
                UnsafeMutableRawPointer(destination).copyMemory(from: source, byteCount: count * 4)
            case .bf16:  // bfloat16 is the top half of a float32
                for i in 0..<count {
                    let half = source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)
                    destination[i] = Float(bitPattern: UInt32(UInt16(littleEndian: half)) << 16)
                }
            case .f16:
                for i in 0..<count {
                    let half = source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)
                    destination[i] = Float(Float16(bitPattern: UInt16(littleEndian: half)))
                }
            }
        }
    }
}
