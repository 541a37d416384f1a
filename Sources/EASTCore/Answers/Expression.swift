import Foundation

/// A small arithmetic expression parsed from a normalised answer: numbers,
/// variables, `+ - * / ^`, `\frac`, `\sqrt`, `\pi`, `e`, `!` and a few
/// functions, in LaTeX or plain notation (`\frac{3\sqrt5}{7}`, `(3*sqrt(5))/7`).
///
/// It exists so that `x/7+2/7` and `(x+2)/7` can be called equal without a
/// computer algebra system: two expressions are compared by evaluating them
/// at a few seeded random points (`AnswerEquivalence`). Input is never
/// executed, and parsing is bounded in length, nesting and size, so a hostile
/// answer costs at most a few thousand steps.
indirect enum Expression: Equatable {
    /// A literal; `decimal` when it was written with a decimal point, which
    /// marks it as possibly rounded (see `AnswerEquivalence`).
    case number(Rational, decimal: Bool)
    /// A literal too long for 64 bits, as written (digits and perhaps a point).
    case longLiteral(String, decimal: Bool)
    case variable(String)
    case pi, e
    case negate(Expression)
    case add(Expression, Expression), subtract(Expression, Expression)
    case multiply(Expression, Expression), divide(Expression, Expression)
    case power(Expression, Expression)
    case function(String, Expression)
    case factorial(Expression)

    static let maxLength = 2_000
    static let maxDepth = 120
    static let maxNodes = 1_000

    /// The parse of the whole text, or nil when it is not an expression (or
    /// exceeds the bounds).
    static func parse(_ text: [UInt8]) -> Expression? {
        guard !text.isEmpty, text.count <= maxLength else { return nil }
        var parser = ExpressionParser(text: text)
        guard let e = parser.parseSum(), parser.atEnd, parser.nodes <= maxNodes else { return nil }
        return e
    }

    /// The variables, in order of first appearance.
    var variables: [String] {
        var seen: [String] = []
        func walk(_ e: Expression) {
            switch e {
            case .variable(let name): if !seen.contains(name) { seen.append(name) }
            case .number, .longLiteral, .pi, .e: break
            case .negate(let x), .function(_, let x), .factorial(let x): walk(x)
            case .add(let a, let b), .subtract(let a, let b), .multiply(let a, let b), .divide(let a, let b), .power(let a, let b):
                walk(a); walk(b)
            }
        }
        walk(self)
        return seen
    }

    /// Whether a decimal literal occurs anywhere (so the value may be rounded).
    var hasDecimal: Bool {
        switch self {
        case .number(_, let d), .longLiteral(_, let d): return d
        case .variable, .pi, .e: return false
        case .negate(let x), .function(_, let x), .factorial(let x): return x.hasDecimal
        case .add(let a, let b), .subtract(let a, let b), .multiply(let a, let b), .divide(let a, let b), .power(let a, let b):
            return a.hasDecimal || b.hasDecimal
        }
    }

    /// A decimal literal on its own (optionally negated): Math-Verify's "float".
    var isDecimalLiteral: Bool {
        switch self {
        case .number(_, let d), .longLiteral(_, let d): return d
        case .negate(let x): return x.isDecimalLiteral
        default: return false
        }
    }

    /// The value with the variables bound as in `point`: exact where every
    /// step stays rational, a Double otherwise; nil where undefined (division
    /// by zero, the root of a negative, an unknown variable).
    func evaluate(_ point: [String: Rational]) -> ExpressionValue? {
        switch self {
        case .number(let r, _): return .exact(r)
        case .longLiteral(let digits, _): return Double(digits).map(ExpressionValue.approximate)
        case .variable(let name): return point[name].map(ExpressionValue.exact)
        case .pi: return .approximate(Double.pi)
        case .e: return .approximate(M_E)
        case .negate(let x): return x.evaluate(point)?.negated
        case .add(let a, let b): return ExpressionValue.combine(a.evaluate(point), b.evaluate(point), exact: +, approximate: +)
        case .subtract(let a, let b):
            return ExpressionValue.combine(a.evaluate(point), b.evaluate(point), exact: { x, y in (-y).flatMap { x + $0 } }, approximate: -)
        case .multiply(let a, let b): return ExpressionValue.combine(a.evaluate(point), b.evaluate(point), exact: *, approximate: *)
        case .divide(let a, let b):
            guard let y = b.evaluate(point), !y.isZero else { return nil }
            return ExpressionValue.combine(a.evaluate(point), y, exact: { x, y in y.reciprocal.flatMap { x * $0 } }, approximate: /)
        case .power(let a, let b):
            guard let x = a.evaluate(point), let y = b.evaluate(point) else { return nil }
            if case .exact(let base) = x, case .exact(let n) = y, n.isInteger, let r = base.power(n.numerator) { return .exact(r) }
            if case .exact(let base) = x, case .exact(let n) = y, n.denominator == 2, let root = base.squareRoot,
                let r = root.power(n.numerator) {
                return .exact(r)
            }
            return .real(pow(x.double, y.double))
        case .function(let name, let x):
            guard let v = x.evaluate(point) else { return nil }
            return Self.apply(name, v)
        case .factorial(let x):
            guard case .exact(let n)? = x.evaluate(point), n.isInteger, (0...20).contains(n.numerator) else { return nil }
            return .exact(Rational((1...max(1, n.numerator)).reduce(1, *)))
        }
    }

    private static func apply(_ name: String, _ v: ExpressionValue) -> ExpressionValue? {
        if name == "sqrt", case .exact(let r) = v, let root = r.squareRoot { return .exact(root) }
        if name == "abs", case .exact(let r) = v { return .exact(r.numerator < 0 ? (-r)! : r) }
        let x = v.double
        switch name {
        case "sqrt": return .real(x.squareRoot())
        case "abs": return .real(abs(x))
        case "sin": return .real(sin(x))
        case "cos": return .real(cos(x))
        case "tan": return .real(tan(x))
        case "cot": return .real(1 / tan(x))
        case "sec": return .real(1 / cos(x))
        case "csc": return .real(1 / sin(x))
        case "arcsin": return .real(asin(x))
        case "arccos": return .real(acos(x))
        case "arctan": return .real(atan(x))
        case "ln": return .real(log(x))
        case "log": return .real(log10(x))
        case "exp": return .real(exp(x))
        default: return nil
        }
    }
}

/// A value of an expression at a point: exact when it can be.
enum ExpressionValue: Equatable {
    case exact(Rational)
    case approximate(Double)

    /// A Double result, nil when it is not finite (so undefined points are skipped).
    static func real(_ x: Double) -> ExpressionValue? { x.isFinite ? .approximate(x) : nil }

    var double: Double {
        switch self {
        case .exact(let r): return r.double
        case .approximate(let x): return x
        }
    }

    var isZero: Bool { double == 0 }

    var negated: ExpressionValue? {
        switch self {
        case .exact(let r): return (-r).map(ExpressionValue.exact) ?? .approximate(-r.double)
        case .approximate(let x): return .approximate(-x)
        }
    }

    /// Applies an operation exactly when both are exact and it does not
    /// overflow, in floating point otherwise.
    static func combine(
        _ a: ExpressionValue?, _ b: ExpressionValue?,
        exact: (Rational, Rational) -> Rational?, approximate: (Double, Double) -> Double
    ) -> ExpressionValue? {
        guard let a, let b else { return nil }
        if case .exact(let x) = a, case .exact(let y) = b, let r = exact(x, y) { return .exact(r) }
        return real(approximate(a.double, b.double))
    }
}

/// Recursive descent over the bytes of a normalised answer (spaces already
/// removed). Precedence, loosest first: `+ -`, `* / \cdot \times \div` and
/// implicit products (`2x`, `3\sqrt5`), unary minus, `^`, postfix `!`.
private struct ExpressionParser {
    let text: [UInt8]
    var i = 0
    var depth = 0
    var nodes = 0

    init(text: [UInt8]) { self.text = text }

    var atEnd: Bool { i == text.count }
    private var current: UInt8? { i < text.count ? text[i] : nil }

    /// Functions written with a backslash (`\sin x`) or plainly before a parenthesis (`sin(x)`).
    static let functions = ["arcsin", "arccos", "arctan", "sqrt", "sin", "cos", "tan", "cot", "sec", "csc", "ln", "log", "exp", "abs"]
    /// Commands that are a product sign.
    static let timesCommands = ["cdot", "times", "ast"]

    private mutating func enter() -> Bool {
        depth += 1
        nodes += 1
        return depth <= Expression.maxDepth && nodes <= Expression.maxNodes
    }

    private mutating func eat(_ c: Character) -> Bool {
        if current == c.asciiValue { i += 1; return true }
        return false
    }

    /// The letters of a `\command` at `i` (without moving), or nil.
    private func commandName(at index: Int) -> String? {
        guard index < text.count, text[index] == UInt8(ascii: "\\") else { return nil }
        var end = index + 1
        while end < text.count, TextScanning.isLetter(text[end]) { end += 1 }
        return end > index + 1 ? TextScanning.string(text[(index + 1)..<end]) : nil
    }

    /// Consumes `\name` when the command at `i` starts with it (`\pir` is `\pi r`).
    private mutating func eatCommand(_ name: String) -> Bool {
        guard let found = commandName(at: i), found.hasPrefix(name) else { return false }
        i += 1 + name.utf8.count
        return true
    }

    mutating func parseSum() -> Expression? {
        guard enter() else { return nil }
        defer { depth -= 1 }
        guard var left = parseProduct() else { return nil }
        while let c = current, c == UInt8(ascii: "+") || c == UInt8(ascii: "-") {
            i += 1
            guard let right = parseProduct() else { return nil }
            left = c == UInt8(ascii: "+") ? .add(left, right) : .subtract(left, right)
            nodes += 1
        }
        return left
    }

    mutating func parseProduct() -> Expression? {
        guard enter() else { return nil }
        defer { depth -= 1 }
        guard var left = parseUnary() else { return nil }
        while let c = current {
            if c == UInt8(ascii: "*"), i + 1 < text.count, text[i + 1] == UInt8(ascii: "*") { break }  // `**` is a power
            if c == UInt8(ascii: "*") || timesCommand() != nil {
                i += c == UInt8(ascii: "*") ? 1 : 1 + timesCommand()!.utf8.count
                guard let right = parseUnary() else { return nil }
                left = .multiply(left, right)
            } else if c == UInt8(ascii: "/") || commandName(at: i) == "div" {
                i += c == UInt8(ascii: "/") ? 1 : 4
                guard let right = parseUnary() else { return nil }
                left = .divide(left, right)
            } else if startsFactor(c) {
                let fraction = commandName(at: i) == "frac"
                guard let right = parsePower() else { return nil }
                // `15\frac{39}{40}` is a mixed number, 15 + 39/40.
                if fraction, case .number(let whole, false) = left, whole.isInteger,
                    case .divide(.number(_, false), .number(_, false)) = right {
                    left = .add(left, right)
                } else {
                    left = .multiply(left, right)
                }
            } else {
                break
            }
            nodes += 1
        }
        return left
    }

    /// The product command at `i` (`\cdot`, also glued to a letter: `\cdotx`).
    private func timesCommand() -> String? {
        guard let name = commandName(at: i) else { return nil }
        return Self.timesCommands.first { name.hasPrefix($0) }
    }

    /// Whether an implicit product continues here.
    private func startsFactor(_ c: UInt8) -> Bool {
        if TextScanning.isDigit(c) || TextScanning.isLetter(c) || c == UInt8(ascii: "(") || c == UInt8(ascii: "{") { return true }
        guard let name = commandName(at: i) else { return false }
        return timesCommand() == nil && name != "div"
    }

    mutating func parseUnary() -> Expression? {
        guard enter() else { return nil }
        defer { depth -= 1 }
        if eat("-") { return parseUnary().map(Expression.negate) }
        if eat("+") { return parseUnary() }
        return parsePower()
    }

    mutating func parsePower() -> Expression? {
        guard enter() else { return nil }
        defer { depth -= 1 }
        guard var base = parsePostfix() else { return nil }
        if eat("^") || eatDoubleStar() {
            // The exponent: a group, a number, or one signed factor; right-associative.
            let exponent: Expression?
            if eat("-") { exponent = parsePower().map(Expression.negate) } else { exponent = parsePower() }
            guard let exponent else { return nil }
            base = .power(base, exponent)
            nodes += 1
        }
        return base
    }

    mutating func parsePostfix() -> Expression? {
        guard var e = parsePrimary() else { return nil }
        while eat("!") { e = .factorial(e); nodes += 1 }
        return e
    }

    /// `**`, Python's power sign.
    private mutating func eatDoubleStar() -> Bool {
        guard current == UInt8(ascii: "*"), i + 1 < text.count, text[i + 1] == UInt8(ascii: "*") else { return false }
        i += 2
        return true
    }

    /// `{...}` or `(...)` or `[...]` as a group.
    private mutating func parseGroup() -> Expression? {
        let pairs: [(UInt8, UInt8)] = [(0x7B, 0x7D), (0x28, 0x29), (0x5B, 0x5D)]
        guard let c = current, let (_, close) = pairs.first(where: { $0.0 == c }) else { return nil }
        i += 1
        guard let inner = parseSum(), current == close else { return nil }
        i += 1
        return inner
    }

    /// A function's argument: a group, or the next factor (`\sin x`, `\sqrt5`).
    private mutating func parseArgument() -> Expression? {
        if let c = current, c == 0x7B || c == 0x28 { return parseGroup() }
        return parsePower()
    }

    mutating func parsePrimary() -> Expression? {
        guard enter() else { return nil }
        defer { depth -= 1 }
        guard let c = current else { return nil }
        if TextScanning.isDigit(c) || c == UInt8(ascii: ".") { return parseNumber() }
        if c == 0x7B || c == 0x28 || c == 0x5B { return parseGroup() }
        if c == UInt8(ascii: "\\") { return parseCommand() }
        if TextScanning.isLetter(c) {
            // `sqrt(5)`, `sin(x)`: a plain function name before a parenthesis.
            for name in Self.functions where TextScanning.matches(text, at: i, TextScanning.bytes(name)) {
                let after = i + name.utf8.count
                if after < text.count, text[after] == UInt8(ascii: "(") {
                    i = after
                    return parseGroup().map { .function(name, $0) }
                }
            }
            // `pi` written plainly (Python's spelling) is π.
            if TextScanning.matches(text, at: i, TextScanning.bytes("pi")), !(i + 2 < text.count && TextScanning.isLetter(text[i + 2])) {
                i += 2
                return .pi
            }
            i += 1
            if c == UInt8(ascii: "e"), current != UInt8(ascii: "_") { return .e }
            return .variable(String(UnicodeScalar(c)) + subscriptName())
        }
        return nil
    }

    /// `_1` or `_{12}` after a variable: part of its name.
    private mutating func subscriptName() -> String {
        guard eat("_") else { return "" }
        let start = i
        if eat("{") {
            while let c = current, c != UInt8(ascii: "}") { i += 1 }
            guard eat("}") else { i = start; return "" }
        } else if current != nil {
            i += 1
        }
        return "_" + TextScanning.string(text[start..<i])
    }

    private mutating func parseNumber() -> Expression? {
        let start = i
        var sawDot = false
        while let c = current, TextScanning.isDigit(c) || (c == UInt8(ascii: ".") && !sawDot && i + 1 < text.count && TextScanning.isDigit(text[i + 1])) {
            if c == UInt8(ascii: ".") { sawDot = true }
            i += 1
        }
        guard i > start else { return nil }
        let digits = text[start..<i]
        if let r = Rational(decimal: digits) { return .number(r, decimal: sawDot) }
        return .longLiteral(TextScanning.string(digits), decimal: sawDot)
    }

    private mutating func parseCommand() -> Expression? {
        guard let name = commandName(at: i) else { return nil }
        if eatCommand("frac") {
            guard let top = parseGroup(), let bottom = parseGroup() else { return nil }
            return .divide(top, bottom)
        }
        if eatCommand("sqrt") {
            if eat("[") {
                guard let index = parseSum(), eat("]"), let radicand = parseArgument() else { return nil }
                return .power(radicand, .divide(.number(Rational(1), decimal: false), index))
            }
            return parseArgument().map { .function("sqrt", $0) }
        }
        if eatCommand("pi") { return .pi }
        for f in Self.functions where name.hasPrefix(f) && !(f == "ln" && name.hasPrefix("lnot")) {
            _ = eatCommand(f)
            // `\sin^2x` is `(\sin x)^2`.
            var exponent: Expression?
            if eat("^") { exponent = parsePrimary(); if exponent == nil { return nil } }
            guard let argument = parseArgument() else { return nil }
            let applied = Expression.function(f, argument)
            return exponent.map { .power(applied, $0) } ?? applied
        }
        // Any other command (`\alpha`, `\infty`) is a symbol of its own.
        i += 1 + name.utf8.count
        return .variable("\\" + name + subscriptName())
    }
}
