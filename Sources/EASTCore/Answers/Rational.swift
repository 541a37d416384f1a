/// An exact fraction of two 64-bit integers, always in lowest terms with a
/// positive denominator.
///
/// Answers are mostly integers and small fractions, and comparing those
/// exactly is what keeps `10000` from matching `9999`. Every operation checks
/// for overflow and returns nil instead, so the caller can fall back to
/// floating point for the rare huge value.
struct Rational: Hashable {
    let numerator: Int64
    let denominator: Int64

    init(_ value: Int64) {
        numerator = value
        denominator = 1
    }

    /// nil when the denominator is zero or reducing overflows (`Int64.min`).
    init?(_ numerator: Int64, _ denominator: Int64) {
        guard denominator != 0, numerator != .min, denominator != .min else { return nil }
        let g = Rational.gcd(numerator.magnitude, denominator.magnitude)
        let sign: Int64 = denominator < 0 ? -1 : 1
        self.numerator = sign * numerator / Int64(g)
        self.denominator = sign * denominator / Int64(g)
    }

    /// The exact value of a decimal literal: `12.50` → 25/2; nil past 18 digits.
    init?(decimal text: some Collection<UInt8>) {
        var value: Int64 = 0, scale: Int64 = 1, afterDot = false, digits = 0
        for c in text {
            if c == UInt8(ascii: ".") { afterDot = true; continue }
            guard TextScanning.isDigit(c) else { return nil }
            digits += 1
            guard digits <= 18 else { return nil }
            value = value * 10 + Int64(c - 0x30)
            if afterDot { scale *= 10 }
        }
        guard digits > 0 else { return nil }
        self.init(value, scale)
    }

    var isInteger: Bool { denominator == 1 }
    var double: Double { Double(numerator) / Double(denominator) }

    static func gcd(_ a: UInt64, _ b: UInt64) -> UInt64 {
        var (a, b) = (a, b)
        while b != 0 { (a, b) = (b, a % b) }
        return max(a, 1)
    }

    static prefix func - (x: Rational) -> Rational? { Rational(-x.numerator, x.denominator) }

    static func + (x: Rational, y: Rational) -> Rational? {
        let (a, o1) = x.numerator.multipliedReportingOverflow(by: y.denominator)
        let (b, o2) = y.numerator.multipliedReportingOverflow(by: x.denominator)
        let (n, o3) = a.addingReportingOverflow(b)
        let (d, o4) = x.denominator.multipliedReportingOverflow(by: y.denominator)
        return o1 || o2 || o3 || o4 ? nil : Rational(n, d)
    }

    static func * (x: Rational, y: Rational) -> Rational? {
        // Cross-reduce first so that products of small fractions stay small.
        let g1 = Int64(gcd(x.numerator.magnitude, y.denominator.magnitude))
        let g2 = Int64(gcd(y.numerator.magnitude, x.denominator.magnitude))
        let (n, o1) = (x.numerator / g1).multipliedReportingOverflow(by: y.numerator / g2)
        let (d, o2) = (x.denominator / g2).multipliedReportingOverflow(by: y.denominator / g1)
        return o1 || o2 ? nil : Rational(n, d)
    }

    var reciprocal: Rational? { Rational(denominator, numerator) }

    /// `x^n` for an integer exponent of at most 64 in size.
    func power(_ n: Int64) -> Rational? {
        guard n.magnitude <= 64, var base = n < 0 ? reciprocal : self else { return nil }
        var result = Rational(1), e = n.magnitude
        while true {
            if e & 1 == 1 { guard let r = result * base else { return nil }; result = r }
            e >>= 1
            if e == 0 { return result }
            guard let b = base * base else { return nil }
            base = b
        }
    }

    /// The exact square root when numerator and denominator are perfect squares.
    var squareRoot: Rational? {
        guard numerator >= 0 else { return nil }
        func root(_ v: Int64) -> Int64? {
            let r = Int64(Double(v).squareRoot().rounded())
            for c in [r - 1, r, r + 1] where c >= 0 && c.multipliedReportingOverflow(by: c) == (v, false) { return c }
            return nil
        }
        guard let n = root(numerator), let d = root(denominator) else { return nil }
        return Rational(n, d)
    }
}
