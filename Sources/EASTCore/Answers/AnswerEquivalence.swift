/// Decides whether two final answers say the same thing.
///
/// After normalisation (`AnswerNormalizer`), two answers are equivalent when
/// - their texts are equal; or
/// - both are numbers (integers, decimals, fractions, percentages with the
///   sign stripped, negative numbers) equal within a relative tolerance of 1e-4; or
/// - both are tuples/intervals with the same brackets, or plain comma lists,
///   with the same number of elements, equivalent element by element.
///
/// No symbolic algebra and no evaluation of input: the cost is linear in the
/// length of the answers and nesting is bounded, so it never hangs.
public enum AnswerEquivalence {
    public static let relativeTolerance = 1e-4
    static let maxNesting = 8

    /// Compares two raw answers (normalising both first).
    public static func equivalent(_ a: String, _ b: String) -> Bool {
        equivalentNormalized(AnswerNormalizer.normalize(a), AnswerNormalizer.normalize(b))
    }

    /// Compares two answers that are already normalised.
    public static func equivalentNormalized(_ a: String, _ b: String) -> Bool {
        equivalent(TextScanning.bytes(a), TextScanning.bytes(b), depth: 0)
    }

    static func equivalent(_ a: [UInt8], _ b: [UInt8], depth: Int) -> Bool {
        if a == b { return true }
        if let x = number(a), let y = number(b) { return numbersClose(x, y) }
        guard depth < maxNesting else { return false }
        // Tuples and intervals: the same opening and closing brackets.
        if let (openA, closeA, innerA) = bracketed(a), let (openB, closeB, innerB) = bracketed(b) {
            guard openA == openB, closeA == closeB else { return false }
            return elementwise(innerA, innerB, depth: depth)
        }
        if bracketed(a) != nil || bracketed(b) != nil { return false }
        // Plain comma lists ("1,2").
        if a.contains(UInt8(ascii: ",")) || b.contains(UInt8(ascii: ",")) {
            return elementwise(a, b, depth: depth)
        }
        return false
    }

    static func numbersClose(_ x: Double, _ y: Double) -> Bool {
        if x == y { return true }
        return abs(x - y) <= relativeTolerance * max(abs(x), abs(y))
    }

    private static func elementwise(_ a: [UInt8], _ b: [UInt8], depth: Int) -> Bool {
        let partsA = TextScanning.splitTopLevelCommas(a)
        let partsB = TextScanning.splitTopLevelCommas(b)
        guard partsA.count >= 2, partsA.count == partsB.count else { return false }
        return zip(partsA, partsB).allSatisfy { equivalent($0, $1, depth: depth + 1) }
    }

    /// `(1,2]` → ("(", "]", "1,2") when the brackets enclose the whole text.
    private static func bracketed(_ s: [UInt8]) -> (UInt8, UInt8, [UInt8])? {
        guard s.count >= 2, let open = s.first, let close = s.last,
            open == UInt8(ascii: "(") || open == UInt8(ascii: "["),
            close == UInt8(ascii: ")") || close == UInt8(ascii: "]") else { return nil }
        // The opening bracket must not close before the end: "(1)+(2)" is no tuple.
        var depth = 0
        for (i, c) in s.enumerated() {
            if c == UInt8(ascii: "(") || c == UInt8(ascii: "[") { depth += 1 }
            if c == UInt8(ascii: ")") || c == UInt8(ascii: "]") {
                depth -= 1
                if depth == 0, i != s.count - 1 { return nil }
            }
        }
        return (open, close, Array(s[1..<(s.count - 1)]))
    }

    /// The value of a normalised numeric answer: `-12`, `3.5`, `\frac{3}{4}`,
    /// `-\frac{3}{4}`, `\frac{-3}{4}`; nil for anything else.
    public static func number(_ s: String) -> Double? {
        number(TextScanning.bytes(s))
    }

    static func number(_ s: [UInt8]) -> Double? {
        if let x = decimal(s[...]) { return x }
        var body = s[...]
        var sign = 1.0
        if body.first == UInt8(ascii: "-") { sign = -1; body = body.dropFirst() }
        let frac = TextScanning.bytes("\\frac{")
        guard body.count > frac.count, Array(body.prefix(frac.count)) == frac, body.last == UInt8(ascii: "}") else {
            return nil
        }
        let inner = body.dropFirst(frac.count).dropLast()  // "3}{4"
        let halves = inner.split(separator: UInt8(ascii: "}"), omittingEmptySubsequences: false)
        guard halves.count == 2, halves[1].first == UInt8(ascii: "{"),
            let numerator = decimal(halves[0]), let denominator = decimal(halves[1].dropFirst()),
            denominator != 0 else { return nil }
        return sign * numerator / denominator
    }

    /// A plain decimal number: optional sign, digits, optional fraction part.
    private static func decimal(_ s: ArraySlice<UInt8>) -> Double? {
        var body = s
        if body.first == UInt8(ascii: "-") || body.first == UInt8(ascii: "+") { body = body.dropFirst() }
        guard !body.isEmpty, body.count <= 40 else { return nil }
        var sawDigit = false, sawDot = false
        for c in body {
            if TextScanning.isDigit(c) { sawDigit = true } else if c == UInt8(ascii: "."), !sawDot { sawDot = true } else { return nil }
        }
        guard sawDigit else { return nil }
        return Double(TextScanning.string(s))
    }
}
