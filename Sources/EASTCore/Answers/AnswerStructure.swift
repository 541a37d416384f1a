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
    /// Elements in all, nested ones included: comparing two sets is pairwise,
    /// so this bounds the work of one comparison (about `maxSize²` pairs).
    static let maxSize = 256

    /// Separators after `AnswerNormalizer` (it writes relations as `≤ ≥ ≠ ≈ ∈`).
    private static let relationSigns: [(String, Relation)] = [
        ("≤", .lessOrEqual), ("≥", .greaterOrEqual), ("≠", .notEqual), ("≈", .equal), ("∈", .equal),
        ("=", .equal), ("<", .less), (">", .greater),
    ]
    private static let relationSeparators = relationSigns.map { TextScanning.bytes($0.0) }

    static func parse(_ s: [UInt8], depth: Int = 0) -> AnswerStructure {
        guard !s.isEmpty, s.count <= maxLength, depth <= maxDepth else { return .text(s) }
        let body = withoutLabel(s)
        // Loosest first: `a ∪ b`, then `a, b`, then `a = b`, then brackets.
        let parsed = union(body, depth) ?? list(body, depth) ?? relation(body, depth) ?? bracedSet(body, depth)
            ?? bracketed(body, depth) ?? matrix(body, depth) ?? plusMinus(body, depth) ?? value(body)
        return depth > 0 || parsed.size <= maxSize ? parsed : .text(s)
    }

    /// The number of parts, nested ones included.
    var size: Int {
        switch self {
        case .expression, .text: return 1
        case .relation(let items, _), .ordered(_, _, let items), .set(let items), .union(let items):
            return items.reduce(1) { $0 + $1.size }
        case .matrix(let rows): return rows.joined().reduce(1) { $0 + $1.size }
        }
    }

    /// `\text{Answer: } 5`, `x: 5` → `5`: a label of letters before a colon.
    private static func withoutLabel(_ s: [UInt8]) -> [UInt8] {
        guard let colon = s.firstIndex(of: UInt8(ascii: ":")), colon > 0, colon < s.count - 1,
            s[..<colon].allSatisfy(TextScanning.isLetter) else { return s }
        return Array(s[(colon + 1)...])
    }

    private static func union(_ s: [UInt8], _ depth: Int) -> AnswerStructure? {
        let parts = TextScanning.splitTopLevel(s, at: [TextScanning.bytes("∪")]).parts
        guard parts.count > 1 else { return nil }
        return elements(parts, depth: depth).map(AnswerStructure.union) ?? .text(s)
    }

    private static func list(_ s: [UInt8], _ depth: Int) -> AnswerStructure? {
        let items = TextScanning.splitTopLevelCommas(s).filter { !$0.isEmpty }
        guard items.count > 1 else { return nil }
        return elements(items, depth: depth).map(AnswerStructure.set) ?? .text(s)
    }

    private static func relation(_ s: [UInt8], _ depth: Int) -> AnswerStructure? {
        let (sides, signs) = TextScanning.splitTopLevel(s, at: relationSeparators)
        guard sides.count > 1 else { return nil }
        guard !sides.dropFirst().contains(where: \.isEmpty) else { return .text(s) }
        var parsed = sides.map { parse($0, depth: depth + 1) }
        var relations = signs.map { relationSigns[$0].1 }
        if sides[0].isEmpty {
            // `\approx 3.14`, `=5`: nothing before the first sign.
            parsed.removeFirst()
            relations.removeFirst()
        } else if let k = signs.dropFirst().firstIndex(where: { relationSigns[$0].0 == "≈" }) {
            // `x = 1/3 \approx 0.33`: what is stated ends where the rounding begins.
            parsed.removeSubrange((k + 1)...)
            relations.removeSubrange(k...)
        }
        return parsed.count == 1 ? parsed[0] : .relation(parsed, relations)
    }

    /// `\{1, 2\}`, and `{1, 2}` with plain braces around a list.
    private static func bracedSet(_ s: [UInt8], _ depth: Int) -> AnswerStructure? {
        typealias T = TextScanning
        let inner: [UInt8]
        if s.count >= 4, T.matches(s, at: 0, T.bytes("\\{")), T.matches(s, at: s.count - 2, T.bytes("\\}")),
            let escaped = enclosed(s, prefix: 2, suffix: 2) {
            inner = escaped
        } else if s.first == UInt8(ascii: "{"), s.last == UInt8(ascii: "}"), let plain = enclosed(s, prefix: 1, suffix: 1),
            T.splitTopLevelCommas(plain).count > 1 {
            inner = plain
        } else {
            return nil
        }
        let items = T.splitTopLevelCommas(inner).filter { !$0.isEmpty }
        return elements(items, depth: depth).map(AnswerStructure.set) ?? .text(s)
    }

    /// `(1, 2]` as ordered elements; `(5)` and `[\matrix{..}]` as what they enclose.
    private static func bracketed(_ s: [UInt8], _ depth: Int) -> AnswerStructure? {
        guard s.count >= 2, let open = s.first, let close = s.last,
            open == UInt8(ascii: "(") || open == UInt8(ascii: "["),
            close == UInt8(ascii: ")") || close == UInt8(ascii: "]"),
            let inner = enclosed(s, prefix: 1, suffix: 1) else { return nil }
        let items = TextScanning.splitTopLevelCommas(inner)
        if items.count > 1 { return elements(items, depth: depth).map { .ordered(open: open, close: close, $0) } ?? .text(s) }
        let parentheses = open == UInt8(ascii: "(") && close == UInt8(ascii: ")")
        if parentheses || TextScanning.matches(inner, at: 0, TextScanning.bytes("\\matrix{")) { return parse(inner, depth: depth + 1) }
        return nil
    }

    /// `\matrix{1&2\cr3&4}` (the normaliser's spelling of every matrix environment).
    private static func matrix(_ s: [UInt8], _ depth: Int) -> AnswerStructure? {
        typealias T = TextScanning
        guard T.matches(s, at: 0, T.bytes("\\matrix{")), s.last == UInt8(ascii: "}"),
            let inner = enclosed(s, prefix: 8, suffix: 1) else { return nil }
        let rows = T.splitTopLevel(inner, at: [T.bytes("\\cr")]).parts.filter { !$0.isEmpty }
        guard rows.count <= maxElements else { return .text(s) }
        var matrix: [[AnswerStructure]] = []
        for row in rows {
            guard let cells = elements(T.splitTopLevel(row, at: [T.bytes("&")]).parts, depth: depth) else { return .text(s) }
            matrix.append(cells)
        }
        return .matrix(matrix)
    }

    /// `a \pm b`: both values, as a set.
    private static func plusMinus(_ s: [UInt8], _ depth: Int) -> AnswerStructure? {
        let parts = TextScanning.splitTopLevel(s, at: [TextScanning.bytes("±")]).parts
        guard parts.count == 2 else { return nil }
        let plus = parts[0].isEmpty ? parts[1] : parts[0] + [UInt8(ascii: "+")] + parts[1]
        let minus = parts[0] + [UInt8(ascii: "-")] + parts[1]
        return .set([parse(plus, depth: depth + 1), parse(minus, depth: depth + 1)])
    }

    /// A number or expression (perhaps in percent), else text.
    private static func value(_ s: [UInt8]) -> AnswerStructure {
        let percent = s.last == UInt8(ascii: "%")
        let body = percent ? Array(s.dropLast()) : s
        // Words are text: a product of letters would make "Monday" equal "Dynamo".
        if body.count > 1, body.allSatisfy(TextScanning.isLetter), body != TextScanning.bytes("pi") { return .text(s) }
        if let e = Expression.parse(body) { return .expression(e, percent: percent) }
        return .text(s)
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
}

extension AnswerStructure {
    /// Whether two parsed answers were written the same (names in relations).
    static func sameText(_ a: AnswerStructure, _ b: AnswerStructure) -> Bool {
        switch (a, b) {
        case (.expression(let x, _), .expression(let y, _)): return x == y
        case (.text(let x), .text(let y)): return x == y
        case (.ordered(let oa, let ca, let x), .ordered(let ob, let cb, let y)):
            return oa == ob && ca == cb && x.count == y.count && zip(x, y).allSatisfy { sameText($0, $1) }
        default: return false
        }
    }
}
