/// Finds the final answer in a model response or a reference solution.
///
/// The rules, tried in order, follow the Qwen2.5-Math evaluation pipeline the
/// EAST paper used:
/// 1. the content of the last `\boxed{...}` or `\fbox{...}` (braces matched),
///    or `\boxed 5` without braces;
/// 2. the text after the last `#### ` (GSM8K's marker), to the end of its line;
/// 3. the text after the last "the answer is" / "final answer is", to the end
///    of its line or sentence;
/// 4. the last number in the text.
///
/// A response with none of these has no answer (`nil`).
public enum AnswerExtractor {
    public static func extract(from response: String) -> String? {
        let text = TextScanning.bytes(response)
        if let boxed = lastBoxed(text) { return nonEmpty(boxed) }
        if let marked = afterHashes(text) { return nonEmpty(marked) }
        if let said = afterAnswerIs(text) { return nonEmpty(said) }
        return lastNumber(text).map(TextScanning.string)
    }

    /// The content of the last `\boxed{...}` / `\fbox{...}`, or nil.
    public static func lastBoxed(in text: String) -> String? {
        lastBoxed(TextScanning.bytes(text)).flatMap(nonEmpty)
    }

    /// The text after the last `#### ` (to the end of its line), or nil.
    public static func afterHashes(in text: String) -> String? {
        afterHashes(TextScanning.bytes(text)).flatMap(nonEmpty)
    }

    private static func nonEmpty(_ b: [UInt8]) -> String? {
        let t = TextScanning.trimmed(b)
        return t.isEmpty ? nil : TextScanning.string(t)
    }

    static func lastBoxed(_ text: [UInt8]) -> [UInt8]? {
        var starts = TextScanning.indices(of: "\\boxed", in: text).map { ($0, 6) }
        starts += TextScanning.indices(of: "\\fbox", in: text).map { ($0, 5) }
        guard !starts.isEmpty else { return nil }
        starts.sort { $0.0 > $1.0 }
        let braces = TextScanning.matchingBraces(text)
        for (start, length) in starts {
            var i = start + length
            if i < text.count, text[i] == UInt8(ascii: "{") {
                if let close = braces[i] { return Array(text[(i + 1)..<close]) }
                continue  // unbalanced: try an earlier box
            }
            // `\boxed 5`: a space, then everything up to `$` or the end of the line.
            guard i < text.count, text[i] == UInt8(ascii: " ") else { continue }
            while i < text.count, text[i] == UInt8(ascii: " ") { i += 1 }
            var end = i
            while end < text.count, text[end] != UInt8(ascii: "$"), text[end] != 0x0A { end += 1 }
            if end > i { return Array(text[i..<end]) }
        }
        return nil
    }

    static func afterHashes(_ text: [UInt8]) -> [UInt8]? {
        guard let start = TextScanning.lastIndex(of: "####", in: text) else { return nil }
        return restOfLine(text, from: start + 4)
    }

    static func afterAnswerIs(_ text: [UInt8]) -> [UInt8]? {
        let candidates = ["the answer is", "final answer is"].compactMap { phrase in
            TextScanning.lastIndex(of: phrase, in: text, ignoringCase: true).map { $0 + phrase.utf8.count }
        }
        guard let start = candidates.max() else { return nil }
        var rest = TextScanning.trimmed(restOfLine(text, from: start))
        if rest.first == UInt8(ascii: ":") { rest = TextScanning.trimmed(Array(rest.dropFirst())) }
        // Cut at the end of the sentence: a period followed by a space.
        for i in 0..<rest.count where rest[i] == UInt8(ascii: ".") {
            if i + 1 < rest.count, rest[i + 1] == UInt8(ascii: " ") {
                rest = Array(rest[..<i])
                break
            }
        }
        while let last = rest.last, last == UInt8(ascii: ".") { rest.removeLast() }
        return rest.isEmpty ? nil : rest
    }

    private static func restOfLine(_ text: [UInt8], from start: Int) -> [UInt8] {
        var end = start
        while end < text.count, text[end] != 0x0A { end += 1 }
        return Array(text[min(start, end)..<end])
    }

    /// The last number: an optional minus, digits (commas between digit groups
    /// allowed) and an optional decimal part.
    static func lastNumber(_ text: [UInt8]) -> [UInt8]? {
        var i = text.count - 1
        while i >= 0, !TextScanning.isDigit(text[i]) { i -= 1 }
        guard i >= 0 else { return nil }
        let end = i + 1
        var start = i
        while start > 0 {
            let c = text[start - 1]
            if TextScanning.isDigit(c) {
                start -= 1
            } else if c == UInt8(ascii: ".") || c == UInt8(ascii: ","),
                start >= 2, TextScanning.isDigit(text[start - 2]) {
                start -= 1
            } else {
                break
            }
        }
        if start > 0, text[start - 1] == UInt8(ascii: "-") { start -= 1 }
        return Array(text[start..<end])
    }
}
