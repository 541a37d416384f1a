import EASTEngine
import Foundation

/// A tiny GGUF v3 writer for tests: metadata of any type and tensors whose
/// bytes the test supplies (already in the tensor's ggml type).
struct GGUFWriter {
    enum Value {
        case u8(UInt8), i8(Int8), u16(UInt16), i16(Int16), u32(UInt32), i32(Int32), f32(Float)
        case bool(Bool), string(String), array(code: UInt32, [Value]), u64(UInt64), i64(Int64), f64(Double)

        var code: UInt32 {
            switch self {
            case .u8: 0
            case .i8: 1
            case .u16: 2
            case .i16: 3
            case .u32: 4
            case .i32: 5
            case .f32: 6
            case .bool: 7
            case .string: 8
            case .array: 9
            case .u64: 10
            case .i64: 11
            case .f64: 12
            }
        }
    }

    struct Tensor {
        var name: String
        /// PyTorch order (slowest first); written reversed, as GGUF wants.
        var shape: [Int]
        var type: UInt32
        var bytes: [UInt8]
    }

    var metadata: [(String, Value)] = []
    var tensors: [Tensor] = []
    var alignment = 32
    var magic = Array("GGUF".utf8)
    var version: UInt32 = 3

    mutating func add(_ key: String, _ value: Value) { metadata.append((key, value)) }

    mutating func addF32(_ name: String, shape: [Int], _ values: [Float]) {
        var bytes: [UInt8] = []
        for v in values { Self.put(v.bitPattern, &bytes) }
        tensors.append(Tensor(name: name, shape: shape, type: 0, bytes: bytes))
    }

    mutating func addF16(_ name: String, shape: [Int], _ values: [Float]) {
        var bytes: [UInt8] = []
        for v in values { Self.put(Float16(v).bitPattern, &bytes) }
        tensors.append(Tensor(name: name, shape: shape, type: 1, bytes: bytes))
    }

    static func put<T: FixedWidthInteger>(_ v: T, _ out: inout [UInt8]) {
        withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) }
    }

    static func put(_ s: String, _ out: inout [UInt8]) {
        put(UInt64(s.utf8.count), &out)
        out.append(contentsOf: s.utf8)
    }

    static func put(_ v: Value, _ out: inout [UInt8]) {
        switch v {
        case .u8(let x): put(x, &out)
        case .i8(let x): put(x, &out)
        case .u16(let x): put(x, &out)
        case .i16(let x): put(x, &out)
        case .u32(let x): put(x, &out)
        case .i32(let x): put(x, &out)
        case .f32(let x): put(x.bitPattern, &out)
        case .bool(let x): put(UInt8(x ? 1 : 0), &out)
        case .string(let s): put(s, &out)
        case .array(let code, let values):
            put(code, &out)
            put(UInt64(values.count), &out)
            for value in values { put(value, &out) }
        case .u64(let x): put(x, &out)
        case .i64(let x): put(x, &out)
        case .f64(let x): put(x.bitPattern, &out)
        }
    }

    func bytes() -> [UInt8] {
        var out = magic
        Self.put(version, &out)
        Self.put(UInt64(tensors.count), &out)
        Self.put(UInt64(metadata.count), &out)
        for (key, value) in metadata {
            Self.put(key, &out)
            Self.put(value.code, &out)
            Self.put(value, &out)
        }
        var offset = 0
        var offsets: [Int] = []
        for t in tensors {
            offsets.append(offset)
            offset += t.bytes.count
            offset = (offset + alignment - 1) / alignment * alignment
        }
        for (t, o) in zip(tensors, offsets) {
            Self.put(t.name, &out)
            Self.put(UInt32(t.shape.count), &out)
            for d in t.shape.reversed() { Self.put(UInt64(d), &out) }
            Self.put(t.type, &out)
            Self.put(UInt64(o), &out)
        }
        while out.count % alignment != 0 { out.append(0) }
        for t in tensors {
            out.append(contentsOf: t.bytes)
            while out.count % alignment != 0 { out.append(0) }
        }
        return out
    }

    func write(to url: URL) throws {
        try Data(bytes()).write(to: url)
    }
}
