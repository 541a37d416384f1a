/// Puts a final answer into a canonical text form, so that `\dfrac{1}{2}`,
/// `1/2` and `$\frac12$` all read `\frac{1}{2}`.
///
/// The rules follow `strip_string` of the Qwen2.5-Math evaluation pipeline
/// (written anew here, without regular expressions): each step is one linear
/// pass, so normalising never hangs on hostile input.
public enum AnswerNormalizer {
    public static func normalize(_ answer: String) -> String {
        TextScanning.string(normalize(TextScanning.bytes(answer)))
    }

    static func normalize(_ input: [UInt8]) -> [UInt8] {
        typealias T = TextScanning
        var s = T.trimmed(input)
        s = s.filter { $0 != 0x0A && $0 != 0x0D }
        while s.last == UInt8(ascii: ".") { s.removeLast() }
        if T.contains(s, "\\begin{") { s = rewriteMatrices(s) }
        // Doubly escaped text (`\\frac`) first, so the rules below see single backslashes.
        s = T.replacing(s, [("\\\\", "\\")])
        s = T.replacing(s, replacements)
        s = removeTrailingUnits(T.trimmed(s))
        s = unwrapTextCommands(s)
        s = T.replacing(s, listWords)
        s = T.trimmed(s)
        s = T.replacing(s, [(" .", " 0."), ("{.", "{0.")])
        if s.first == UInt8(ascii: ".") { s.insert(UInt8(ascii: "0"), at: 0) }
        // Before spaces go: `11, 111` is a list, `11,111` a number.
        s = removeThousandsSeparators(s)
        s = s.filter { !T.isSpace($0) }
        s = fixSqrt(s)
        s = fixFracs(s)
        s = fixSlashFraction(s)
        s = dropZeroDecimals(s)
        return s
    }

    /// One pass of spelling fixes. Relations, `\pm`, `\cup` and `\in` become
    /// single symbols (`≤ ≥ ≠ ≈ ± ∪ ∈`), so that removing spaces later cannot
    /// glue them to a following letter (`\le x` → `\lex`). Where one command
    /// is a prefix of another (`\le`, `\left`), the longer comes first.
    static let replacements: [(String, String)] = [
        ("\\!", ""),
        ("tfrac", "frac"), ("dfrac", "frac"), ("cfrac", "frac"),
        ("\\left", ""), ("\\right", ""), ("\\displaystyle", ""),
        ("^{\\circ}", ""), ("^\\circ", ""), ("\\circ", ""), ("\\degree", ""), ("°", ""),
        ("\\$", ""), ("$", ""),
        ("\\%", "%"), (" percentage", "%"), (" percent", "%"), ("percent", "%"), (" pct", "%"), ("pct", "%"),
        ("{,}", ""), ("{, }", ""), ("\\,", ""), ("\\;", ""), ("\\:", ""), ("\\quad", " "), ("\\ ", " "),
        ("\\infin", "\\infty"), ("infinity", "\\infty"),
        ("\\leqslant", "≤"), ("\\leq", "≤"), ("\\le", "≤"), ("<=", "≤"),
        ("\\geqslant", "≥"), ("\\geq", "≥"), ("\\ge", "≥"), (">=", "≥"),
        ("\\neg", "\\neg"), ("\\neq", "≠"), ("\\ne", "≠"), ("!=", "≠"),
        ("\\lt", "<"), ("\\gt", ">"), ("\\approx", "≈"),
        ("\\infty", "\\infty"), ("\\int", "\\int"), ("\\inf", "\\inf"), ("\\in", "∈"),
        ("\\pmod", "\\pmod"), ("\\pm", "±"), ("\\cup", "∪"),
        ("−", "-"), ("×", "\\times "), ("÷", "\\div "),
    ]

    /// `6 \text{ and } 8`, `6; 8`, `6 or 8`: list separators, read as commas
    /// (after `\text{}` is unwrapped, before spaces go).
    static let listWords: [(String, String)] = [
        (", and ", ","), (" and ", ","), (", or ", ","), (" or ", ","), (";", ","), (")or(", "),("), (")and(", "),("),
    ]

    /// `\begin{pmatrix} 1 & 2 \\ 3 & 4 \end{pmatrix}` (or bmatrix, matrix,
    /// array, ...) → `\matrix{1 & 2 \cr 3 & 4}`, one spelling for every
    /// environment. (`vmatrix` is a determinant, a number: not rewritten.)
    static func rewriteMatrices(_ s: [UInt8]) -> [UInt8] {
        let names = ["pmatrix", "bmatrix", "Bmatrix", "smallmatrix", "matrix", "array"]
        var rules = names.map { ("\\begin{\($0)}", "\\matrix{") } + names.map { ("\\end{\($0)}", "}") }
        rules.append(("\\\\", "\\cr "))
        let rewritten = TextScanning.replacing(s, rules)
        // `\begin{array}{cc}`: drop the column specification (a few of `lcr|` in braces).
        let marker = TextScanning.bytes("\\matrix{{")
        var out: [UInt8] = []
        out.reserveCapacity(rewritten.count)
        var i = 0
        while i < rewritten.count {
            if TextScanning.matches(rewritten, at: i, marker),
                let close = rewritten[(i + marker.count)..<min(rewritten.count, i + marker.count + 20)].firstIndex(of: UInt8(ascii: "}")),
                rewritten[(i + marker.count)..<close].allSatisfy({ "lcr|".utf8.contains($0) }) {
                out += marker.dropLast()
                i = close + 1
                continue
            }
            out.append(rewritten[i])
            i += 1
        }
        return out
    }

    /// `5\text{ cm}` → `5`: a `\text{...}` at the very end, after something
    /// else, is a unit. (A lone `\text{(A)}` is the answer itself.)
    static func removeTrailingUnits(_ s: [UInt8]) -> [UInt8] {
        // The unit's group closes at the end, perhaps before a power: `15\mbox{ cm}^2`.
        var close = s.count - 1
        if let caret = s.lastIndex(of: UInt8(ascii: "^")), caret > 0, isPower(s[caret...]) { close = caret - 1 }
        guard close > 0, s[close] == UInt8(ascii: "}") else { return removeTrailingWords(s) }
        // Its opening brace, scanning back over the unit only.
        var depth = 0, open = close
        while open >= 0 {
            if s[open] == UInt8(ascii: "}") { depth += 1 }
            if s[open] == UInt8(ascii: "{") { depth -= 1 }
            if depth == 0 { break }
            open -= 1
        }
        guard open > 0 else { return s }
        for command in ["\\text{", "\\textnormal{", "\\textrm{", "\\textbf{", "\\mbox{", "\\mathrm{"].map(TextScanning.bytes) {
            let start = open + 1 - command.count
            guard start > 0, TextScanning.matches(s, at: start, command) else { continue }
            let before = TextScanning.trimmed(Array(s[..<start]))
            if let last = before.last, TextScanning.isDigit(last) || last == UInt8(ascii: "}") { return before }
        }
        return s
    }

    /// `^2`, `^{3}`.
    private static func isPower(_ s: ArraySlice<UInt8>) -> Bool {
        guard s.first == UInt8(ascii: "^") else { return false }
        let exponent = s.dropFirst().filter { $0 != UInt8(ascii: "{") && $0 != UInt8(ascii: "}") }
        return !exponent.isEmpty && exponent.count <= 3 && exponent.allSatisfy(TextScanning.isDigit)
    }

    /// `18 dollars`, `3.5 square feet` → the number: words of two letters or
    /// more after a plain number (`5 x`, `2 pi` stay products).
    static func removeTrailingWords(_ s: [UInt8]) -> [UInt8] {
        guard let space = s.firstIndex(of: UInt8(ascii: " ")), space > 0 else { return s }
        let number = s[..<space]
        let isNumber = number.allSatisfy { TextScanning.isDigit($0) || $0 == UInt8(ascii: ",") || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") }
            && number.contains(where: TextScanning.isDigit)
        let words = s[space...].split(separator: UInt8(ascii: " ")).map(TextScanning.string)
        let notUnits: Set<String> = ["pi", "sqrt", "sin", "cos", "tan", "ln", "log", "exp"]
        guard isNumber, !words.isEmpty,
            words.allSatisfy({ $0.utf8.count >= 2 && $0.utf8.allSatisfy(TextScanning.isLetter) && !notUnits.contains($0) }) else { return s }
        return Array(number)
    }

    /// `\text{abc}`, `\textbf{abc}`, `\mbox{abc}`, `\mathrm{abc}`, ... → `abc`.
    static let textCommands: Set<String> = [
        "text", "textbf", "textnormal", "textrm", "textit", "mbox", "mathrm", "mathbf", "mathit", "boldsymbol",
    ]

    static func unwrapTextCommands(_ s: [UInt8]) -> [UInt8] {
        // One pass for the commands (backslash, a name above, `{`), then their braces.
        var found: [(start: Int, open: Int)] = []
        var i = 0
        while i < s.count {
            guard s[i] == UInt8(ascii: "\\") else { i += 1; continue }
            var end = i + 1
            while end < s.count, TextScanning.isLetter(s[end]) { end += 1 }
            if end < s.count, s[end] == UInt8(ascii: "{"), textCommands.contains(TextScanning.string(s[(i + 1)..<end])) {
                found.append((i, end))
            }
            i = end
        }
        guard !found.isEmpty else { return s }
        let braces = TextScanning.matchingBraces(s)
        var keep = [Bool](repeating: true, count: s.count)  // false: the command or its closing brace
        for (start, open) in found {
            guard let close = braces[open] else { continue }
            for k in start...open { keep[k] = false }
            keep[close] = false
        }
        return s.indices.filter { keep[$0] }.map { s[$0] }
    }

    /// `\sqrt3` → `\sqrt{3}`.
    static func fixSqrt(_ s: [UInt8]) -> [UInt8] {
        let command = TextScanning.bytes("\\sqrt")
        var out: [UInt8] = []
        var i = 0
        while i < s.count {
            if TextScanning.matches(s, at: i, command), i + 5 < s.count, s[i + 5] != UInt8(ascii: "{"),
                s[i + 5] != UInt8(ascii: "[") {
                out += command + [UInt8(ascii: "{"), s[i + 5], UInt8(ascii: "}")]
                i += 6
            } else {
                out.append(s[i])
                i += 1
            }
        }
        return out
    }

    /// `\frac12` → `\frac{1}{2}`, `\frac1{2}` → `\frac{1}{2}`, `\frac{1}2` → `\frac{1}{2}`.
    static func fixFracs(_ s: [UInt8]) -> [UInt8] {
        let command = TextScanning.bytes("\\frac")
        guard TextScanning.contains(s, "\\frac") else { return s }
        let braces = TextScanning.matchingBraces(s)
        var out: [UInt8] = []
        var i = 0
        while i < s.count {
            guard TextScanning.matches(s, at: i, command) else {
                out.append(s[i])
                i += 1
                continue
            }
            out += command
            i += command.count
            guard i < s.count else { break }
            if s[i] == UInt8(ascii: "{") {
                // Numerator is grouped; the denominator may be a bare character.
                guard let close = braces[i], close + 1 < s.count else { continue }
                out += s[i...close]
                i = close + 1
                if s[i] != UInt8(ascii: "{"), s[i] != UInt8(ascii: "\\") {
                    out += [UInt8(ascii: "{"), s[i], UInt8(ascii: "}")]
                    i += 1
                }
            } else if s[i] != UInt8(ascii: "\\") {
                out += [UInt8(ascii: "{"), s[i], UInt8(ascii: "}")]
                i += 1
                if i < s.count, s[i] != UInt8(ascii: "{"), s[i] != UInt8(ascii: "\\") {
                    out += [UInt8(ascii: "{"), s[i], UInt8(ascii: "}")]
                    i += 1
                }
            }
        }
        return out
    }

    /// `3/4` → `\frac{3}{4}` when the whole answer is integer/integer.
    static func fixSlashFraction(_ s: [UInt8]) -> [UInt8] {
        let parts = s.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
        guard parts.count == 2 else { return s }
        let isInteger: (ArraySlice<UInt8>) -> Bool = { part in
            let digits = part.first == UInt8(ascii: "-") ? part.dropFirst() : part
            return !digits.isEmpty && digits.allSatisfy(TextScanning.isDigit)
        }
        guard isInteger(parts[0]), isInteger(parts[1]) else { return s }
        return TextScanning.bytes("\\frac{") + parts[0] + [UInt8(ascii: "}"), UInt8(ascii: "{")] + parts[1] + [UInt8(ascii: "}")]
    }

    /// `1,234,567.5` → `1234567.5` when the whole answer is one such number.
    static func removeThousandsSeparators(_ s: [UInt8]) -> [UInt8] {
        guard s.contains(UInt8(ascii: ",")) else { return s }
        var body = s[...]
        if body.first == UInt8(ascii: "-") { body = body.dropFirst() }
        let integerPart = body.split(separator: UInt8(ascii: "."), maxSplits: 1, omittingEmptySubsequences: false)
        if integerPart.count == 2, !integerPart[1].allSatisfy(TextScanning.isDigit) { return s }
        let groups = integerPart[0].split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false)
        guard groups.count >= 2, (1...3).contains(groups[0].count),
            groups.allSatisfy({ $0.allSatisfy(TextScanning.isDigit) }),
            groups.dropFirst().allSatisfy({ $0.count == 3 }) else { return s }
        return s.filter { $0 != UInt8(ascii: ",") }
    }

    /// `5.0` → `5`, `2.50` → `2.5`, wherever a number ends in zero decimals.
    static func dropZeroDecimals(_ s: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(s.count)
        var i = 0
        while i < s.count {
            let c = s[i]
            guard c == UInt8(ascii: "."), let last = out.last, TextScanning.isDigit(last) else {
                out.append(c)
                i += 1
                continue
            }
            var end = i + 1
            while end < s.count, TextScanning.isDigit(s[end]) { end += 1 }
            var decimals = Array(s[(i + 1)..<end])
            while decimals.last == UInt8(ascii: "0") { decimals.removeLast() }
            if !decimals.isEmpty { out += [UInt8(ascii: ".")] + decimals }
            if end == i + 1 { out.append(c) }  // a lone '.' that was not a decimal point
            i = end
        }
        return out
    }
}
