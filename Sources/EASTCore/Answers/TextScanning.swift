/// Byte-level helpers for scanning model output and LaTeX answers.
///
/// Every function here is one left-to-right pass (patterns are a few bytes),
/// so answer handling stays linear in the length of its input: a model can
/// emit a megabyte of unbalanced braces and we still answer at once. We work
/// on UTF-8 bytes: all the syntax we look at is ASCII, and ASCII bytes never
/// occur inside a multi-byte UTF-8 sequence, so other text passes through intact.
enum TextScanning {
    typealias Bytes = [UInt8]

    static func bytes(_ s: String) -> Bytes { Array(s.utf8) }
    static func string(_ b: some Collection<UInt8>) -> String { String(decoding: b, as: UTF8.self) }

    static func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }
    static func isLetter(_ c: UInt8) -> Bool { (c | 0x20) >= 0x61 && (c | 0x20) <= 0x7A }
    static func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D }

    /// Whether `pattern` occurs in `text` at `index` (optionally ignoring ASCII case).
    static func matches(_ text: Bytes, at index: Int, _ pattern: Bytes, ignoringCase: Bool = false) -> Bool {
        guard index >= 0, index + pattern.count <= text.count else { return false }
        for k in 0..<pattern.count {
            var a = text[index + k], b = pattern[k]
            if ignoringCase { a = lower(a); b = lower(b) }
            if a != b { return false }
        }
        return true
    }

    static func lower(_ c: UInt8) -> UInt8 { (c >= 0x41 && c <= 0x5A) ? c + 0x20 : c }

    /// Start index of the last occurrence of `pattern`, or nil.
    static func lastIndex(of pattern: String, in text: Bytes, ignoringCase: Bool = false) -> Int? {
        let p = bytes(pattern)
        guard p.count <= text.count else { return nil }
        var i = text.count - p.count
        while i >= 0 {
            if matches(text, at: i, p, ignoringCase: ignoringCase) { return i }
            i -= 1
        }
        return nil
    }

    /// All start indices of `pattern` (non-overlapping, left to right).
    static func indices(of pattern: String, in text: Bytes) -> [Int] {
        let p = bytes(pattern)
        var out: [Int] = []
        var i = 0
        while i + p.count <= text.count {
            if matches(text, at: i, p) { out.append(i); i += p.count } else { i += 1 }
        }
        return out
    }

    static func contains(_ text: Bytes, _ pattern: String) -> Bool {
        let p = bytes(pattern)
        var i = 0
        while i + p.count <= text.count {
            if matches(text, at: i, p) { return true }
            i += 1
        }
        return false
    }

    /// Replaces every occurrence of each pattern in one pass (the first pattern
    /// that matches at a position wins). Rules are looked up by their first
    /// byte, so a position costs one table read unless a rule could start there.
    static func replacing(_ text: Bytes, _ replacements: [(String, String)]) -> Bytes {
        var rulesByFirstByte = [[(Bytes, Bytes)]](repeating: [], count: 256)
        for (pattern, replacement) in replacements {
            let p = bytes(pattern)
            rulesByFirstByte[Int(p[0])].append((p, bytes(replacement)))
        }
        var out = Bytes()
        out.reserveCapacity(text.count)
        var i = 0
        scan: while i < text.count {
            // The second byte is checked inline: most candidates fail there, cheaply.
            for (pattern, replacement) in rulesByFirstByte[Int(text[i])]
            where (pattern.count == 1 || (i + 1 < text.count && pattern[1] == text[i + 1])) && matches(text, at: i, pattern) {
                out.append(contentsOf: replacement)
                i += pattern.count
                continue scan
            }
            out.append(text[i])
            i += 1
        }
        return out
    }

    static func trimmed(_ text: Bytes) -> Bytes {
        var start = 0, end = text.count
        while start < end, isSpace(text[start]) { start += 1 }
        while end > start, isSpace(text[end - 1]) { end -= 1 }
        return Array(text[start..<end])
    }

    /// For every `{` the index of its matching `}` (or -1), computed with one
    /// stack pass. Escaped braces `\{` and `\}` are literal text, not grouping.
    static func matchingBraces(_ text: Bytes) -> [Int: Int] {
        var result: [Int: Int] = [:]
        var stack: [Int] = []
        for (i, c) in text.enumerated() {
            let escaped = i > 0 && text[i - 1] == UInt8(ascii: "\\")
            if c == UInt8(ascii: "{"), !escaped {
                stack.append(i)
            } else if c == UInt8(ascii: "}"), !escaped, let open = stack.popLast() {
                result[open] = i
            }
        }
        return result
    }

    /// Splits at commas that are not inside (), [], {}. Unbalanced closers are
    /// treated as text, so this never fails.
    static func splitTopLevelCommas(_ text: Bytes) -> [Bytes] {
        splitTopLevel(text, at: [[UInt8(ascii: ",")]]).parts
    }

    /// Splits at any of `separators` where they are not inside (), [], {}
    /// (the first separator listed wins at a position); also says which
    /// separator stood between each two parts. One pass.
    static func splitTopLevel(_ text: Bytes, at separators: [Bytes]) -> (parts: [Bytes], separators: [Int]) {
        var parts: [Bytes] = [], found: [Int] = []
        var current = Bytes()
        var depth = 0
        var i = 0
        scan: while i < text.count {
            let c = text[i]
            switch c {
            case UInt8(ascii: "("), UInt8(ascii: "["), UInt8(ascii: "{"): depth += 1
            case UInt8(ascii: ")"), UInt8(ascii: "]"), UInt8(ascii: "}"): depth = max(0, depth - 1)
            default: break
            }
            if depth == 0 {
                for (k, separator) in separators.enumerated() where matches(text, at: i, separator) {
                    parts.append(current)
                    found.append(k)
                    current = []
                    i += separator.count
                    continue scan
                }
            }
            current.append(c)
            i += 1
        }
        parts.append(current)
        return (parts, found)
    }
}
