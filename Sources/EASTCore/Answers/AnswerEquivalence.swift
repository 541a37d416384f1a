import Foundation

/// Decides whether two final answers say the same thing, after
/// normalisation (`AnswerNormalizer`), by their shape (`AnswerStructure`):
///
/// - equal texts are equal;
/// - numbers compare exactly; only where one side is written as a decimal
///   (possibly rounded) are both rounded to 6 places first, as Math-Verify
///   does, so `10000` never meets `9999` or `9999.857`;
/// - `28%` meets `0.28`, and `28` when neither is written as a decimal;
/// - expressions with variables are equal when they agree at several seeded
///   random points (exact fractions where possible): `x/7+2/7` = `(x+2)/7`;
/// - sets (`\{..\}`, plain lists, `\pm`) compare unordered, tuples,
///   intervals and matrices element by element;
/// - `x = 5` (a name, or a chain `5+6 = 11`) meets `5` on either side;
///   equations are equal up to a non-zero factor (`y=-x/2+3/4` = `2x+4y-3=0`),
///   inequalities up to a positive one, with `a \ge b` read as `b \le a`.
///
/// No computer algebra and no evaluation of input text: parsing is bounded
/// (see `AnswerStructure`, `Expression`), so the cost stays linear in the
/// length of the answers and it never hangs. Deterministic: the points come
/// from a fixed seed.
public enum AnswerEquivalence {
    /// Decimal places both sides are rounded to when one is written as a decimal.
    static let decimalPlaces = 6.0
    /// Relative tolerance for values only known in floating point (`\sqrt 2`, `\pi`).
    static let floatTolerance = 1e-9

    /// Compares two raw answers (normalising both first).
    public static func equivalent(_ a: String, _ b: String) -> Bool {
        equivalentNormalized(AnswerNormalizer.normalize(a), AnswerNormalizer.normalize(b))
    }

    /// Compares two answers that are already normalised.
    public static func equivalentNormalized(_ a: String, _ b: String) -> Bool {
        let x = TextScanning.bytes(a), y = TextScanning.bytes(b)
        if x == y { return !x.isEmpty }
        return equivalent(AnswerStructure.parse(x), AnswerStructure.parse(y))
    }

    static func equivalent(_ a: AnswerStructure, _ b: AnswerStructure) -> Bool {
        switch (a, b) {
        case (.text(let x), .text(let y)):
            return x.count == y.count && zip(x, y).allSatisfy { TextScanning.lower($0) == TextScanning.lower($1) }
        case (.expression(let x, let px), .expression(let y, let py)):
            return sameValue(x, percent: px, y, percent: py)
        case (.relation(let sa, let ra), .relation(let sb, let rb)):
            return sameRelation(sa, ra, sb, rb)
        case (.relation(let sides, let relations), .ordered) where interval(sides, relations) != nil:
            return equivalent(interval(sides, relations)!, b)
        case (.ordered, .relation(let sides, let relations)) where interval(sides, relations) != nil:
            return equivalent(a, interval(sides, relations)!)
        case (.relation(let sides, let relations), _):
            guard let value = assignedValue(sides, relations) else { return false }
            return equivalent(value, b)
        case (_, .relation(let sides, let relations)):
            guard let value = assignedValue(sides, relations) else { return false }
            return equivalent(a, value)
        case (.set(let x), .set(let y)):
            return sameSet(x, y)
        // A point `(3, 2)` written as the list `3, 2`: in the order written, as Math-Verify does.
        case (.ordered(UInt8(ascii: "("), UInt8(ascii: ")"), let x), .set(let y)), (.set(let y), .ordered(UInt8(ascii: "("), UInt8(ascii: ")"), let x)):
            return sameSequence(x, y)
        case (.set(let x), _):  // a set of one value, perhaps written twice
            return !x.isEmpty && x.allSatisfy { equivalent($0, b) }
        case (_, .set(let y)):
            return !y.isEmpty && y.allSatisfy { equivalent(a, $0) }
        case (.union(let x), .union(let y)):
            return sameSet(x, y)
        case (.ordered(let oa, let ca, let x), .ordered(let ob, let cb, let y)):
            // At an infinite end of an interval the bracket says nothing: `[-\infty, 0]` is `(-\infty, 0]`.
            let openMatters = x.count != 2 || !(isInfinite(x[0]) && isInfinite(y[0]))
            let closeMatters = x.count != 2 || !(isInfinite(x[x.count - 1]) && isInfinite(y[y.count - 1]))
            return (oa == ob || !openMatters) && (ca == cb || !closeMatters) && sameSequence(x, y)
        case (.matrix(let x), .matrix(let y)):
            return x.count == y.count && zip(x, y).allSatisfy { sameSequence($0, $1) }
        default:
            return false
        }
    }

    private static func isInfinite(_ s: AnswerStructure) -> Bool {
        switch s {
        case .expression(.variable("\\infty"), _), .expression(.negate(.variable("\\infty")), _): return true
        default: return false
        }
    }

    private static func sameSequence(_ x: [AnswerStructure], _ y: [AnswerStructure]) -> Bool {
        x.count == y.count && zip(x, y).allSatisfy { equivalent($0, $1) }
    }

    /// Every element has an equal one on the other side (duplicates count once).
    private static func sameSet(_ x: [AnswerStructure], _ y: [AnswerStructure]) -> Bool {
        x.allSatisfy { a in y.contains { equivalent(a, $0) } } && y.allSatisfy { b in x.contains { equivalent($0, b) } }
    }

    // MARK: Relations

    /// The value an equation chain states, when it is an assignment: the last
    /// side of `x = ...`, `(p,q) = ...`, `f(x) = ...` (the first side only
    /// names), or of a computation `5+6 = 11` (no variables on any side).
    static func assignedValue(_ sides: [AnswerStructure], _ relations: [Relation]) -> AnswerStructure? {
        guard relations.allSatisfy({ $0 == .equal }), let first = sides.first, let last = sides.last else { return nil }
        return isName(first) || sides.allSatisfy(isConstant) ? last : nil
    }

    /// `-793 < a \le 10` as the interval `(-793, 10]`: a name between two constants.
    static func interval(_ sides: [AnswerStructure], _ relations: [Relation]) -> AnswerStructure? {
        let (x, r) = ascending(sides, relations)
        guard x.count == 3, isConstant(x[0]), isConstant(x[2]), isName(x[1]),
            r.allSatisfy({ $0 == .less || $0 == .lessOrEqual }) else { return nil }
        let open = r[0] == .less ? UInt8(ascii: "(") : UInt8(ascii: "[")
        let close = r[1] == .less ? UInt8(ascii: ")") : UInt8(ascii: "]")
        return .ordered(open: open, close: close, [x[0], x[2]])
    }

    private static func isName(_ s: AnswerStructure) -> Bool {
        func onlyNames(_ e: Expression) -> Bool {
            switch e {
            case .variable: return true
            case .multiply(let a, let b), .divide(let a, let b): return onlyNames(a) && onlyNames(b)
            default: return false
            }
        }
        switch s {
        case .expression(let e, _): return onlyNames(e)
        case .ordered(_, _, let items), .set(let items): return items.allSatisfy(isName)
        // `|AB|`: text with letters and no digits.
        case .text(let t): return t.contains(where: TextScanning.isLetter) && !t.contains(where: TextScanning.isDigit)
        default: return false
        }
    }

    private static func isConstant(_ s: AnswerStructure) -> Bool {
        if case .expression(let e, _) = s { return e.variables.isEmpty }
        return false
    }

    typealias Relation = AnswerStructure.Relation

    static func sameRelation(_ sa: [AnswerStructure], _ ra: [Relation], _ sb: [AnswerStructure], _ rb: [Relation]) -> Bool {
        // Assignments to the same name: compare what is assigned.
        if let va = assignedValue(sa, ra), let vb = assignedValue(sb, rb), isName(sa[0]), isName(sb[0]),
            AnswerStructure.sameText(sa[0], sb[0]) {
            return equivalent(va, vb)
        }
        // Equations (all `=`): first side minus last side, up to a non-zero factor.
        if ra.allSatisfy({ $0 == .equal }), rb.allSatisfy({ $0 == .equal }) {
            guard let da = difference(sa[0], sa[sa.count - 1]), let db = difference(sb[0], sb[sb.count - 1]) else { return false }
            return proportional(da, db, positive: false)
        }
        // Inequalities: the same chain, read left to right with `<`/`≤`.
        guard ra.count == rb.count else { return false }
        let (xa, oa) = ascending(sa, ra), (xb, ob) = ascending(sb, rb)
        guard oa == ob else { return false }
        for k in 0..<oa.count {
            guard let da = difference(xa[k], xa[k + 1]), let db = difference(xb[k], xb[k + 1]),
                proportional(da, db, positive: oa[k] != .notEqual && oa[k] != .equal) else { return false }
        }
        return true
    }

    /// The chain with `>`/`≥` turned around, so `5 \ge x` reads `x \le 5`.
    private static func ascending(_ sides: [AnswerStructure], _ relations: [Relation]) -> ([AnswerStructure], [Relation]) {
        guard relations.contains(where: { $0 == .greater || $0 == .greaterOrEqual }) else { return (sides, relations) }
        let flipped = relations.reversed().map { r -> Relation in
            switch r {
            case .greater: return .less
            case .greaterOrEqual: return .lessOrEqual
            case .less: return .greater
            case .lessOrEqual: return .greaterOrEqual
            default: return r
            }
        }
        return (sides.reversed(), flipped)
    }

    private static func difference(_ a: AnswerStructure, _ b: AnswerStructure) -> Expression? {
        guard case .expression(let x, false) = a, case .expression(let y, false) = b else { return nil }
        return .subtract(x, y)
    }

    // MARK: Values

    static func sameValue(_ x: Expression, percent px: Bool, _ y: Expression, percent py: Bool) -> Bool {
        if px == py { return sameValue(x, y) }
        // One side in percent: as its hundredth, or as the number written
        // (`28%` for `28`) unless a decimal says the other side is a fraction.
        let (p, other) = px ? (x, y) : (y, x)
        if sameValue(.divide(p, .number(Rational(100), decimal: false)), other, decimalSide: p.isDecimalLiteral) { return true }
        return !p.hasDecimal && !other.hasDecimal && sameValue(p, other)
    }

    /// Numbers compare as described above; with variables, at seeded points.
    static func sameValue(_ x: Expression, _ y: Expression, decimalSide: Bool = false) -> Bool {
        // Integers past 64 bits (`20!` written out) compare digit by digit, not as Doubles.
        if case .longLiteral(let a, false) = x, case .longLiteral(let b, false) = y { return a == b }
        let names = x.variables + y.variables.filter { !x.variables.contains($0) }
        let rounded = decimalSide || x.isDecimalLiteral || y.isDecimalLiteral
        if names.isEmpty {
            guard let a = x.evaluate([:]), let b = y.evaluate([:]) else { return false }
            return sameNumber(a, b, rounded: rounded)
        }
        var agreeing = 0
        for point in points(for: names) {
            guard let a = x.evaluate(point), let b = y.evaluate(point) else { continue }
            guard sameNumber(a, b, rounded: false) else { return false }
            agreeing += 1
        }
        return agreeing >= 3
    }

    private static func sameNumber(_ a: ExpressionValue, _ b: ExpressionValue, rounded: Bool) -> Bool {
        if case .exact(let x) = a, case .exact(let y) = b, x == y { return true }
        if rounded {
            let scale = pow(10, decimalPlaces)
            return (a.double * scale).rounded() == (b.double * scale).rounded()
        }
        if case .exact = a, case .exact = b { return false }
        let x = a.double, y = b.double
        return abs(x - y) <= floatTolerance * max(abs(x), abs(y), 1e-12)
    }

    /// Whether `a = c·b` for one constant `c` at every point (`c > 0` when
    /// `positive`), and neither is identically zero.
    static func proportional(_ a: Expression, _ b: Expression, positive: Bool) -> Bool {
        let names = a.variables + b.variables.filter { !a.variables.contains($0) }
        var ratio: ExpressionValue?
        var agreeing = 0
        for point in points(for: names) {
            guard let x = a.evaluate(point), let y = b.evaluate(point) else { continue }
            if x.isZero || y.isZero {
                guard x.isZero && y.isZero else { return false }
                continue
            }
            guard let r = ExpressionValue.combine(x, y, exact: { p, q in q.reciprocal.flatMap { p * $0 } }, approximate: /) else { continue }
            if let ratio {
                guard sameNumber(ratio, r, rounded: false) else { return false }
            } else {
                guard !positive || r.double > 0 else { return false }
                ratio = r
            }
            agreeing += 1
            if names.isEmpty { break }
        }
        return agreeing >= (names.isEmpty ? 1 : 3)
    }

    /// Seven seeded points: each variable gets a fraction n/d with n in
    /// 1...97 and d in 1...7, positive in the first points (so square roots
    /// and logarithms of a variable are defined) and of either sign later.
    static func points(for names: [String]) -> [[String: Rational]] {
        guard !names.isEmpty else { return [[:]] }
        var generator = SeededGenerator(seed: 0xE457_17)
        return (0..<7).map { k in
            var point: [String: Rational] = [:]
            for name in names {
                let n = Int64(generator.next() % 97) + 1, d = Int64(generator.next() % 7) + 1
                let sign: Int64 = k >= 4 && generator.next() % 2 == 0 ? -1 : 1
                point[name] = Rational(sign * n, d)!
            }
            return point
        }
    }

    /// The value of a normalised numeric answer (`-12`, `3.5`, `\frac{3}{4}`,
    /// `2\sqrt{2}`), nil for anything that is not a single number.
    public static func number(_ s: String) -> Double? {
        guard case .expression(let e, let percent) = AnswerStructure.parse(TextScanning.bytes(s)), e.variables.isEmpty,
            let value = e.evaluate([:]) else { return nil }
        return percent ? value.double / 100 : value.double
    }
}
