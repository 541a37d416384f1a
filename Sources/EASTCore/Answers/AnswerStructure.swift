/// The shape of a normalised answer: a value, a relation, a list, a set, a
/// tuple or interval, a union of intervals, a matrix, or plain text.
///
/// `AnswerEquivalence` compares answers shape by shape, so that sets compare
/// unordered and tuples in order, `x = 5` can meet `5`, and `x \ge 5` can meet
/// `5 \le x`. Parsing is bounded (length, nesting, list size): past the bounds
/// an answer is text, compared as written.
indirect enum AnswerStructure {
    /// A value; `percent` when written with `%` (or "percent", "pct").
    case expression(Expression, percent: Bool)
    /// `a = b = c`, `1 < x \le 3`: the sides and the operators between them.
    case relation([AnswerStructure], [Relation])
    /// `(1, 2]`, `(3, 4)`: ordered elements and the brackets around them.
    case ordered(open: UInt8, close: UInt8, [AnswerStructure])
    /// `\{1, 2\}`, `1, 2`, `1 and 2`, `\pm 3`: unordered.
    case set([AnswerStructure])
    /// `(-\infty, 1) \cup (2, \infty)`.
    case union([AnswerStructure])
    case matrix([[AnswerStructure]])
    /// Anything else, compared as written (words ignoring case).
    case text([UInt8])

    enum Relation: Equatable { case equal, less, lessOrEqual, greater, greaterOrEqual, notEqual }

    static let maxLength = 2_000
    static let maxDepth = 8
    static let maxElements = 64

    /// Separators after `AnswerNormalizer` (it writes relations as `≤ ≥ ≠ ≈ ∈`).
    private static let relationSigns: [(String, Relation)] = [
        ("≤", .lessOrEqual), ("≥", .greaterOrEqual), ("≠", .notEqual), ("≈", .equal), ("∈", .equal),
        ("=", .equal), ("<", .less), (">", .greater),
    ]
    private static let relationSeparators = relationSigns.map { TextScanning.bytes($0.0) }

    static func parse(_ s: [UInt8], depth: Int = 0) -> AnswerStructure {
        typealias T = TextScanning
        guard !s.isEmpty, s.count <= maxLength, depth <= maxDepth else { return .text(s) }
        var s = s
        // `\text{Answer: } 5`, `x: 5`: a label before a colon.
        if let colon = s.firstIndex(of: UInt8(ascii: ":")), colon > 0, s[..<colon].allSatisfy(T.isLetter) {
            s = Array(s[(colon + 1)...])
            guard !s.isEmpty else { return .text(s) }
        }
        let union = T.splitTopLevel(s, at: [T.bytes("∪")]).parts
        if union.count > 1 { return elements(union, depth: depth).map(AnswerStructure.union) ?? .text(s) }

        let list = T.splitTopLevelCommas(s).filter { !$0.isEmpty }
        if list.count > 1 { return elements(list, depth: depth).map(AnswerStructure.set) ?? .text(s) }

        let (sides, signs) = T.splitTopLevel(s, at: relationSeparators)
        if sides.count > 1 {
            var parsed = sides.map { parse($0, depth: depth + 1) }
            var relations = signs.map { relationSigns[$0].1 }
            // `\approx 3.14`, `=5`: nothing before the first sign.
            if sides[0].isEmpty {
                parsed.removeFirst()
                relations.removeFirst()
            }
            // `x = 1/3 \approx 0.33`: what is stated ends where the rounding begins.
            if let k = signs.dropFirst().firstIndex(where: { relationSigns[$0].0 == "≈" }), !sides[0].isEmpty {
                parsed.removeSubrange((k + 1)...)
                relations.removeSubrange(k...)
            }
            guard !sides.dropFirst().contains(where: \.isEmpty) else { return .text(s) }
            return parsed.count == 1 ? parsed[0] : .relation(parsed, relations)
        }

        if s.count >= 4, T.matches(s, at: 0, T.bytes("\\{")), T.matches(s, at: s.count - 2, T.bytes("\\}")),
            let inner = enclosed(s, prefix: 2, suffix: 2) {
            let items = T.splitTopLevelCommas(inner).filter { !$0.isEmpty }
            return elements(items, depth: depth).map(AnswerStructure.set) ?? .text(s)
        }
        // `{1,2,3}`: braces around a list are a set too.
        if s.first == UInt8(ascii: "{"), s.last == UInt8(ascii: "}"), let inner = enclosed(s, prefix: 1, suffix: 1) {
            let items = T.splitTopLevelCommas(inner).filter { !$0.isEmpty }
            if items.count > 1 { return elements(items, depth: depth).map(AnswerStructure.set) ?? .text(s) }
        }
        if let (open, close, inner) = bracketed(s) {
            let items = T.splitTopLevelCommas(inner)
            // `(5)`; `[\matrix{..}]`, brackets written around a matrix.
            if items.count == 1,
                (open == UInt8(ascii: "(") && close == UInt8(ascii: ")")) || T.matches(inner, at: 0, T.bytes("\\matrix{")) {
                return parse(inner, depth: depth + 1)
            }
            if items.count > 1 {
                return elements(items, depth: depth).map { .ordered(open: open, close: close, $0) } ?? .text(s)
            }
        }
        if T.matches(s, at: 0, T.bytes("\\matrix{")), s.last == UInt8(ascii: "}"),
            let inner = enclosed(s, prefix: 8, suffix: 1) {
            let rows = T.splitTopLevel(inner, at: [T.bytes("\\cr")]).parts.filter { !$0.isEmpty }
            guard rows.count <= maxElements else { return .text(s) }
            var matrix: [[AnswerStructure]] = []
            for row in rows {
                guard let cells = elements(T.splitTopLevel(row, at: [T.bytes("&")]).parts, depth: depth) else { return .text(s) }
                matrix.append(cells)
            }
            return .matrix(matrix)
        }
        // `a \pm b`: both values.
        let plusMinus = T.splitTopLevel(s, at: [T.bytes("±")]).parts
        if plusMinus.count == 2 {
            let plus = plusMinus[0].isEmpty ? plusMinus[1] : plusMinus[0] + [UInt8(ascii: "+")] + plusMinus[1]
            let minus = plusMinus[0] + [UInt8(ascii: "-")] + plusMinus[1]
            return .set([parse(plus, depth: depth + 1), parse(minus, depth: depth + 1)])
        }
        var percent = false
        if s.last == UInt8(ascii: "%") {
            percent = true
            s.removeLast()
        }
        // Words are text: a product of letters would make "Monday" equal "Dynamo".
        if s.count > 1, s.allSatisfy(T.isLetter), s != T.bytes("pi") { return .text(s) }
        if let e = Expression.parse(s) { return .expression(e, percent: percent) }
        return .text(percent ? s + [UInt8(ascii: "%")] : s)
    }

    private static func elements(_ parts: [[UInt8]], depth: Int) -> [AnswerStructure]? {
        guard parts.count <= maxElements else { return nil }
        return parts.map { parse($0, depth: depth + 1) }
    }

    /// The inner text when the delimiters of length `prefix`/`suffix` enclose
    /// the whole text (no bracket closes the first one early).
    private static func enclosed(_ s: [UInt8], prefix: Int, suffix: Int) -> [UInt8]? {
        guard s.count >= prefix + suffix else { return nil }
        var depth = 0
        for (i, c) in s.enumerated() {
            if c == UInt8(ascii: "(") || c == UInt8(ascii: "[") || c == UInt8(ascii: "{") { depth += 1 }
            if c == UInt8(ascii: ")") || c == UInt8(ascii: "]") || c == UInt8(ascii: "}") {
                depth -= 1
                if depth <= 0, i < s.count - 1 { return nil }
            }
        }
        return Array(s[prefix..<(s.count - suffix)])
    }

    /// `(1,2]` → ("(", "]", "1,2") when the brackets enclose the whole text.
    private static func bracketed(_ s: [UInt8]) -> (UInt8, UInt8, [UInt8])? {
        guard s.count >= 2, let open = s.first, let close = s.last,
            open == UInt8(ascii: "(") || open == UInt8(ascii: "["),
            close == UInt8(ascii: ")") || close == UInt8(ascii: "]"),
            let inner = enclosed(s, prefix: 1, suffix: 1) else { return nil }
        return (open, close, inner)
    }
}
