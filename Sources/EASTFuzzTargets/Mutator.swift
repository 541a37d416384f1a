import EASTCore
import Foundation

/// Seeded mutations of a valid file, the way a careless tool or a hostile
/// user damages one: for binary files (GGUF, safetensors) flipped bits,
/// boundary integers written over header fields, truncation, repeated and
/// missing spans; for text (JSON, YAML, JSONL) numbers replaced by boundary
/// values, keys misspelt, spans cut or repeated, brackets left open, deep
/// nesting. The same seed gives the same mutant, so a finding can be replayed
/// (`east-fuzz mutate`, scripts/hostile.sh).
public struct Mutator {
    public enum Kind: String, Sendable { case binary, text }

    private var random: SeededGenerator

    public init(seed: UInt64) { random = SeededGenerator(seed: seed &+ 0x9E37_79B9_7F4A_7C15) }

    private mutating func below(_ n: Int) -> Int { n <= 1 ? 0 : Int(random.next() % UInt64(n)) }

    /// One mutant of `data`: one to three edits.
    public mutating func mutate(_ data: Data, as kind: Kind) -> Data {
        var bytes = [UInt8](data)
        for _ in 0...below(3) {
            switch kind {
            case .binary: binaryEdit(&bytes)
            case .text: textEdit(&bytes)
            }
        }
        return Data(bytes)
    }

    /// Integers that size things: zero, one past a power of two, the
    /// largest of each width, negative when read as signed.
    private static let boundaryIntegers: [UInt64] = [
        0, 1, 0x7F, 0xFF, 0x7FFF, 0xFFFF, 0x1_0000, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF, 0x1_0000_0000,
        0x7FFF_FFFF_FFFF_FFFF, 0x8000_0000_0000_0000, 0xFFFF_FFFF_FFFF_FFFF, 1 << 40,
    ]

    private mutating func binaryEdit(_ bytes: inout [UInt8]) {
        guard !bytes.isEmpty else { bytes = [UInt8](repeating: 0xFF, count: 8); return }
        // Most fields that size an allocation are in the header: three edits in four land in the first 4 KiB.
        let offset = below(4) < 3 ? below(min(bytes.count, 4096)) : below(bytes.count)
        switch below(6) {
        case 0:  // a flipped bit
            bytes[offset] ^= UInt8(1) << UInt8(below(8))
        case 1, 2:  // a boundary integer over 4 or 8 bytes, little-endian, at a 4-byte-aligned or any offset
            let value = Self.boundaryIntegers[below(Self.boundaryIntegers.count)]
            let width = below(2) == 0 ? 4 : 8
            let start = below(2) == 0 ? offset & ~3 : offset
            for i in 0..<width where start + i < bytes.count { bytes[start + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))) }
        case 3:  // truncated
            bytes.removeSubrange(offset...)
        case 4:  // a span repeated
            let span = bytes[offset..<min(bytes.count, offset + 1 + below(256))]
            bytes.insert(contentsOf: span, at: offset)
        default:  // a span gone
            bytes.removeSubrange(offset..<min(bytes.count, offset + 1 + below(64)))
        }
    }

    /// Numbers that break a reader that trusts them.
    private static let boundaryNumbers = [
        "-1", "0", "-0.0", "1e308", "1e400", "-1e400", "NaN", "nan", "Infinity", "4294967296", "9223372036854775808",
        "18446744073709551616", "1e-320", "0.5", "1000000000", "\"12\"", "null", "true", "[]", "{}",
    ]

    private mutating func textEdit(_ bytes: inout [UInt8]) {
        guard !bytes.isEmpty else { bytes = Array("{".utf8); return }
        let offset = below(bytes.count)
        switch below(8) {
        case 0, 1:  // a number replaced by a boundary value
            let digits = bytes.indices.filter { (bytes[$0] >= 0x30 && bytes[$0] <= 0x39) && ($0 == 0 || !(bytes[$0 - 1] >= 0x30 && bytes[$0 - 1] <= 0x39)) }
            guard !digits.isEmpty else { return removeSpan(&bytes, at: offset) }
            let start = digits[below(digits.count)]
            var end = start
            while end < bytes.count, (bytes[end] >= 0x30 && bytes[end] <= 0x39) || bytes[end] == 0x2E || bytes[end] == 0x65 || bytes[end] == 0x2D { end += 1 }
            bytes.replaceSubrange(start..<end, with: Array(Self.boundaryNumbers[below(Self.boundaryNumbers.count)].utf8))
        case 2:  // a key misspelt: a letter of a quoted or YAML key dropped
            let letters = bytes.indices.filter { bytes[$0] >= 0x61 && bytes[$0] <= 0x7A && $0 + 1 < bytes.count && (bytes[$0 + 1] == 0x22 || bytes[$0 + 1] == 0x3A) }
            guard !letters.isEmpty else { return removeSpan(&bytes, at: offset) }
            bytes.remove(at: letters[below(letters.count)])
        case 3:  // truncated
            bytes.removeSubrange(offset...)
        case 4:  // a span repeated (a duplicated key, line or element)
            let span = bytes[offset..<min(bytes.count, offset + 1 + below(200))]
            bytes.insert(contentsOf: span, at: offset)
        case 5:  // a span gone
            removeSpan(&bytes, at: offset)
        case 6:  // a structural character where it does not belong
            let characters = Array("{}[]\":,'\n\\-#&*!|>".utf8)
            bytes.insert(characters[below(characters.count)], at: offset)
        default:  // deep nesting
            let depth = 1 + below(50_000)
            bytes.insert(contentsOf: [UInt8](repeating: below(2) == 0 ? 0x5B : 0x7B, count: depth), at: offset)
        }
    }

    private mutating func removeSpan(_ bytes: inout [UInt8], at offset: Int) {
        bytes.removeSubrange(offset..<min(bytes.count, offset + 1 + below(40)))
    }
}
