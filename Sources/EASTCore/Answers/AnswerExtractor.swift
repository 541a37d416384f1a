/// Finds the final answer in a model response or a reference solution.
///
/// The rules follow the Qwen2.5-Math evaluation pipeline the EAST paper used,
/// with Math-Verify's refinements:
/// 1. the `\boxed{...}` / `\fbox{...}` answers (braces matched), or
///    `\boxed 5` without braces; several different ones are joined into a
///    list (`1, 2`), since a response that boxes 3 and then 5 has not
///    answered 5 alone;
/// 2. the text after the last `#### ` (GSM8K's marker), to the end of its line;
/// 3. the text after the last "the answer is" / "final answer is", to the end
///    of its line or sentence;
///
///    of these, the one that comes last in the response wins (a late
///    "final answer is 4" corrects an earlier box, unless what follows the
///    phrase is no math: "I hope the answer is correct");
/// 4. otherwise a short one-line response that reads as math is the answer
///    itself (`\frac{10}{9}`), and failing that the last inline `$...$` or
///    the last number-like token (a fraction, a decimal, a grouped number
///    `1,000` or `1 000`, a tuple `(7, 6)`), whichever ends later; digits
///    inside a word (`AZYUK2A`) are no number.
///
/// A response with none of these has no answer (`nil`).
public enum AnswerExtractor {
    public static func extract(from response: String) -> String? {
        let text = TextScanning.bytes(response)
        let marked = [boxes(text), hashes(text)].compactMap { $0 }
        // A later "the answer is" corrects a box, when what follows it reads as math
        // ("I hope the answer is correct" does not).
        if let said = answerIs(text), marked.allSatisfy({ $0.position < said.position }),
            marked.isEmpty || readsAsMath(said.answer) {
            return nonEmpty(said.answer)
        }
        if let latest = marked.max(by: { $0.position < $1.position }) { return nonEmpty(latest.answer) }
        if let whole = wholeResponse(text) { return nonEmpty(whole) }
        let candidates = [lastMath(text), lastNumber(text)].compactMap { $0 }
        return candidates.max(by: { $0.end < $1.end }).flatMap { nonEmpty($0.answer) }
    }

    /// The content of the last `\boxed{...}` / `\fbox{...}`, or nil.
    public static func lastBoxed(in text: String) -> String? {
        lastBoxed(TextScanning.bytes(text)).flatMap(nonEmpty)
    }

    /// The text after the last `#### ` (to the end of its line), or nil.
    public static func afterHashes(in text: String) -> String? {
        hashes(TextScanning.bytes(text)).flatMap { nonEmpty($0.answer) }
    }

    private static func readsAsMath(_ answer: [UInt8]) -> Bool {
        guard answer.count <= AnswerStructure.maxLength else { return false }  // it would be text anyway
        if case .text = AnswerStructure.parse(AnswerNormalizer.normalize(answer)) { return false }
        return true
    }

    private static func nonEmpty(_ b: [UInt8]) -> String? {
        let t = TextScanning.trimmed(b)
        return t.isEmpty ? nil : TextScanning.string(t)
    }

    /// Every boxed answer, outermost first to last, as (start, content).
    static func allBoxed(_ text: [UInt8]) -> [(start: Int, content: [UInt8])] {
        var starts = TextScanning.indices(of: "\\boxed", in: text).map { ($0, 6) }
        starts += TextScanning.indices(of: "\\fbox", in: text).map { ($0, 5) }
        guard !starts.isEmpty else { return [] }
        starts.sort { $0.0 < $1.0 }
        let braces = TextScanning.matchingBraces(text)
        var found: [(start: Int, content: [UInt8])] = []
        var coveredUntil = -1  // a box inside a box already taken is part of it
        for (start, length) in starts where start > coveredUntil {
            var i = start + length
            if i < text.count, text[i] == UInt8(ascii: "{") {
                guard let close = braces[i] else { continue }  // unbalanced: not an answer
                found.append((start, Array(text[(i + 1)..<close])))
                coveredUntil = close
                continue
            }
            // `\boxed 5`: a space, then everything up to `$` or the end of the line.
            guard i < text.count, text[i] == UInt8(ascii: " ") else { continue }
            while i < text.count, text[i] == UInt8(ascii: " ") { i += 1 }
            var end = i
            while end < text.count, text[end] != UInt8(ascii: "$"), text[end] != 0x0A { end += 1 }
            if end > i { found.append((start, Array(text[i..<end]))) }
        }
        return found
    }

    static func lastBoxed(_ text: [UInt8]) -> [UInt8]? {
        allBoxed(text).last(where: { !TextScanning.trimmed($0.content).isEmpty })?.content
    }

    /// The boxed answers joined (`1, 2`), each different one once; positioned at the last box.
    static func boxes(_ text: [UInt8]) -> (position: Int, answer: [UInt8])? {
        var distinct: [[UInt8]] = []
        var last = -1
        for box in allBoxed(text) {
            let content = TextScanning.trimmed(box.content)
            guard !content.isEmpty else { continue }
            last = box.start
            if !distinct.contains(content) { distinct.append(content) }
        }
        guard !distinct.isEmpty else { return nil }
        return (last, Array(distinct.joined(separator: TextScanning.bytes(", "))))
    }

    static func hashes(_ text: [UInt8]) -> (position: Int, answer: [UInt8])? {
        guard let start = TextScanning.lastIndex(of: "####", in: text) else { return nil }
        let rest = restOfLine(text, from: start + 4)
        return TextScanning.trimmed(rest).isEmpty ? nil : (start, rest)
    }

    static func answerIs(_ text: [UInt8]) -> (position: Int, answer: [UInt8])? {
        let candidates = ["the answer is", "final answer is"].compactMap { phrase in
            TextScanning.lastIndex(of: phrase, in: text, ignoringCase: true).map { ($0, $0 + phrase.utf8.count) }
        }
        guard let (position, start) = candidates.max(by: { $0.1 < $1.1 }) else { return nil }
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
        return rest.isEmpty ? nil : (position, rest)
    }

    private static func restOfLine(_ text: [UInt8], from start: Int) -> [UInt8] {
        var end = start
        while end < text.count, text[end] != 0x0A { end += 1 }
        return Array(text[min(start, end)..<end])
    }

    /// A response that is only an answer: one line of at most 100 bytes with
    /// no word (two letters or more, outside a `\command`, not a function
    /// name such as `sqrt`).
    static func wholeResponse(_ text: [UInt8]) -> [UInt8]? {
        let t = TextScanning.trimmed(text)
        guard !t.isEmpty, t.count <= 100, !t.contains(0x0A), !TextScanning.contains(t, "\\boxed"), !TextScanning.contains(t, "\\fbox")
        else { return nil }
        var word: [UInt8] = [], inCommand = false
        for c in t + [0x20] {
            if TextScanning.isLetter(c) {
                if !inCommand { word.append(c) }
                continue
            }
            if word.count >= 2, !["sqrt", "sin", "cos", "tan", "ln", "log", "exp", "pi"].contains(TextScanning.string(word)) { return nil }
            word = []
            inCommand = c == UInt8(ascii: "\\")
        }
        return t
    }

    /// The content of the last one-line `$...$`, `\(...\)` or `\[...\]`, and where it ends.
    static func lastMath(_ text: [UInt8]) -> (end: Int, answer: [UInt8])? {
        var best: (end: Int, answer: [UInt8])?
        for (open, close) in [("\\(", "\\)"), ("\\[", "\\]")] {
            guard let end = TextScanning.lastIndex(of: close, in: text),
                let start = TextScanning.lastIndex(of: open, in: Array(text[..<end])) else { continue }
            let inner = Array(text[(start + 2)..<end])
            if !inner.contains(0x0A), end > (best?.end ?? -1) { best = (end, inner) }
        }
        // `$`: the last two unescaped dollars (the inner two of `$$...$$`).
        var dollars: [Int] = []
        var i = text.count - 1
        while i >= 0, dollars.count < 4 {
            if text[i] == UInt8(ascii: "$"), i == 0 || text[i - 1] != UInt8(ascii: "\\") { dollars.append(i) }
            i -= 1
        }
        if dollars.count >= 2, dollars[0] == dollars[1] + 1 { dollars.removeFirst() }
        if dollars.count >= 2 {
            let (start, end) = (dollars[1], dollars[0])
            let inner = Array(text[(start + 1)..<end])
            if !inner.contains(0x0A), !TextScanning.trimmed(inner).isEmpty, end > (best?.end ?? -1) { best = (end, inner) }
        }
        return best
    }

    /// The last number-like token and where it ends: `-3.5`, `1,234`,
    /// `1 000`, `2/3`, or a tuple of numbers `(7, 6)`; never digits that touch
    /// a letter before them.
    static func lastNumber(_ text: [UInt8]) -> (end: Int, answer: [UInt8])? {
        var best: (start: Int, end: Int)?
        var i = 0
        while i < text.count {
            guard TextScanning.isDigit(text[i]), i == 0 || !(TextScanning.isDigit(text[i - 1]) || text[i - 1] == UInt8(ascii: ".")) else {
                i += 1
                continue
            }
            let start = i
            let end = numberEnd(text, from: i)
            if start == 0 || !TextScanning.isLetter(text[start - 1]) {
                let signed = start > 0 && text[start - 1] == UInt8(ascii: "-") ? start - 1 : start
                best = (signed, end)
            }
            i = end
        }
        guard let (start, end) = best else { return nil }
        if let tuple = enclosingTuple(text, start: start, end: end) { return (tuple.upperBound, Array(text[tuple])) }
        return (end, Array(text[start..<end]))
    }

    /// Where a number starting at `start` ends: digits, groups of three after
    /// `,` or a space, a decimal part, a `/denominator`.
    private static func numberEnd(_ text: [UInt8], from start: Int) -> Int {
        func digits(_ k: Int) -> Int { var e = k; while e < text.count, TextScanning.isDigit(text[e]) { e += 1 }; return e }
        var end = digits(start)
        // Grouped thousands: exactly three digits after each separator.
        while end < text.count, text[end] == UInt8(ascii: ",") || text[end] == UInt8(ascii: " ") {
            let next = digits(end + 1)
            guard next - (end + 1) == 3 else { break }
            end = next
        }
        if end + 1 < text.count, text[end] == UInt8(ascii: "."), TextScanning.isDigit(text[end + 1]) { end = digits(end + 1) }
        if end + 1 < text.count, text[end] == UInt8(ascii: "/"), TextScanning.isDigit(text[end + 1]) { end = digits(end + 1) }
        return end
    }

    /// `(7, 6)` around the last number: brackets holding only numbers,
    /// commas, spaces and signs.
    private static func enclosingTuple(_ text: [UInt8], start: Int, end: Int) -> Range<Int>? {
        var close = end
        while close < text.count, text[close] == UInt8(ascii: " ") { close += 1 }
        guard close < text.count, text[close] == UInt8(ascii: ")") else { return nil }
        var open = start - 1
        let allowed = Set("0123456789., -/".utf8)
        while open >= 0, allowed.contains(text[open]), start - open < 200 { open -= 1 }
        guard open >= 0, text[open] == UInt8(ascii: "("), text[(open + 1)..<start].contains(UInt8(ascii: ",")) else { return nil }
        return open..<(close + 1)
    }
}
