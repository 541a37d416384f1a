import Foundation

/// A small SVG chart for the reports: axes with titles and round tick
/// labels (whole numbers where the axis counts versions or iterations),
/// lines and points with error bars, horizontal bands, bars, and a legend.
/// Plain SVG text, so reports need no plotting library and diff well.
public struct Plot {
    public struct Point {
        public var x: Double
        public var y: Double
        /// Error bar, when there is a CI.
        public var low: Double?
        public var high: Double?
        /// Colours the point on the plot's colour scale instead of the series colour.
        public var shade: Double?

        public init(x: Double, y: Double, low: Double? = nil, high: Double? = nil, shade: Double? = nil) {
            (self.x, self.y, self.low, self.high, self.shade) = (x, y, low, high, shade)
        }
    }

    public struct Series {
        public var name: String
        public var color: String
        public var points: [Point]
        /// Joined by a line (else points only).
        public var line: Bool

        public init(_ name: String, color: String, points: [Point], line: Bool = true) {
            (self.name, self.color, self.points, self.line) = (name, color, points, line)
        }
    }

    /// A horizontal band, e.g. the baseline's CI.
    public struct Band {
        public var name: String
        public var low: Double
        public var high: Double
        public var color: String

        public init(_ name: String, low: Double, high: Double, color: String) {
            (self.name, self.low, self.high, self.color) = (name, low, high, color)
        }
    }

    public var title: String
    public var xTitle: String
    public var yTitle: String
    /// Ticks at whole numbers only (policy versions, iterations).
    public var integerX = false
    public var series: [Series] = []
    public var bands: [Band] = []
    /// Histogram bars: [x0, x1) with height y.
    public var bars: [(x0: Double, x1: Double, y: Double)] = []
    /// Names the shade of shaded points (0 blue ... 1 red) in the legend.
    public var shadeTitle: String?
    /// A dashed horizontal line at y = 0 (for differences).
    public var zeroLine = false
    /// Forces the y range (e.g. 0...1); else it fits the data.
    public var yRange: (Double, Double)?

    public init(title: String, x: String, y: String, integerX: Bool = false) {
        (self.title, self.xTitle, self.yTitle, self.integerX) = (title, x, y, integerX)
    }

    static let width = 640.0, height = 320.0
    static let left = 62.0, right = 230.0, top = 30.0, bottom = 48.0

    /// Blue at 0 to red at 1.
    public static func shade(_ v: Double) -> String {
        let t = min(1, max(0, v))
        return String(format: "rgb(%d,%d,%d)", Int(40 + 200 * t), 60, Int(220 - 180 * t))
    }

    /// About five round steps (1, 2 or 5 times a power of ten) over `range`.
    static func ticks(_ range: (Double, Double), integer: Bool) -> [Double] {
        let span = range.1 - range.0
        guard span > 0 else { return [range.0] }
        let raw = span / 5
        let magnitude = pow(10, floor(log10(raw)))
        var step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? 10 * magnitude
        if integer { step = max(1, step.rounded(.up)) }
        var out: [Double] = []
        var t = (range.0 / step).rounded(.up) * step
        while t <= range.1 + step * 1e-9 {
            out.append(abs(t) < step * 1e-9 ? 0 : t)
            t += step
        }
        return out
    }

    static func label(_ v: Double, step: Double) -> String {
        let decimals = step >= 1 ? 0 : Int((-log10(step)).rounded(.up))
        return String(format: "%.\(decimals)f", v)
    }

    public func svg() -> String {
        let (w, h) = (Self.width, Self.height)
        let (x0, x1, y0, y1) = (Self.left, w - Self.right, h - Self.bottom, Self.top)
        let points = series.flatMap(\.points)
        var xs = points.map(\.x) + bars.flatMap { [$0.x0, $0.x1] }
        var ys = points.flatMap { [$0.y, $0.low ?? $0.y, $0.high ?? $0.y] } + bands.flatMap { [$0.low, $0.high] } + bars.map(\.y)
        if !bars.isEmpty || zeroLine { ys.append(0) }
        if xs.isEmpty { xs = [0, 1] }
        if ys.isEmpty { ys = [0, 1] }
        var xr = (xs.min()!, xs.max()!)
        if xr.0 == xr.1 { xr = (xr.0 - 1, xr.1 + 1) }
        if bars.isEmpty { let pad = (xr.1 - xr.0) * 0.04; xr = (xr.0 - pad, xr.1 + pad) }
        var yr = yRange ?? (ys.min()!, ys.max()!)
        if yr.0 == yr.1 { yr = (yr.0 - 1, yr.1 + 1) }
        if yRange == nil { let pad = (yr.1 - yr.0) * 0.06; yr = (bars.isEmpty ? yr.0 - pad : 0, yr.1 + pad) }
        let px = { (v: Double) in x0 + (v - xr.0) / (xr.1 - xr.0) * (x1 - x0) }
        let py = { (v: Double) in y0 + (v - yr.0) / (yr.1 - yr.0) * (y1 - y0) }
        let f = { (v: Double) in String(format: "%.1f", v) }

        var s = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(w))" height="\(Int(h))" font-family="sans-serif" font-size="11">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(f((x0 + x1) / 2))" y="18" text-anchor="middle" font-size="13">\(escape(title))</text>

        """
        for band in bands {
            s += "<rect x=\"\(f(x0))\" y=\"\(f(py(band.high)))\" width=\"\(f(x1 - x0))\" height=\"\(f(py(band.low) - py(band.high)))\" fill=\"\(band.color)\" fill-opacity=\"0.25\"/>\n"
        }
        for bar in bars {
            s += "<rect x=\"\(f(px(bar.x0) + 1))\" y=\"\(f(py(bar.y)))\" width=\"\(f(max(0, px(bar.x1) - px(bar.x0) - 2)))\" height=\"\(f(py(0) - py(bar.y)))\" fill=\"steelblue\"/>\n"
        }
        if zeroLine {
            s += "<line x1=\"\(f(x0))\" y1=\"\(f(py(0)))\" x2=\"\(f(x1))\" y2=\"\(f(py(0)))\" stroke=\"gray\" stroke-dasharray=\"4 3\"/>\n"
        }
        // Axes, ticks and titles.
        s += "<line x1=\"\(f(x0))\" y1=\"\(f(y0))\" x2=\"\(f(x1))\" y2=\"\(f(y0))\" stroke=\"black\"/>\n"
        s += "<line x1=\"\(f(x0))\" y1=\"\(f(y0))\" x2=\"\(f(x0))\" y2=\"\(f(y1))\" stroke=\"black\"/>\n"
        let xt = Self.ticks(xr, integer: integerX), yt = Self.ticks(yr, integer: false)
        let xstep = xt.count > 1 ? xt[1] - xt[0] : 1, ystep = yt.count > 1 ? yt[1] - yt[0] : 1
        for t in xt {
            s += "<line x1=\"\(f(px(t)))\" y1=\"\(f(y0))\" x2=\"\(f(px(t)))\" y2=\"\(f(y0 + 4))\" stroke=\"black\"/>"
            s += "<text x=\"\(f(px(t)))\" y=\"\(f(y0 + 16))\" text-anchor=\"middle\">\(Self.label(t, step: xstep))</text>\n"
        }
        for t in yt {
            s += "<line x1=\"\(f(x0 - 4))\" y1=\"\(f(py(t)))\" x2=\"\(f(x0))\" y2=\"\(f(py(t)))\" stroke=\"black\"/>"
            s += "<text x=\"\(f(x0 - 6))\" y=\"\(f(py(t) + 4))\" text-anchor=\"end\">\(Self.label(t, step: ystep))</text>\n"
        }
        s += "<text x=\"\(f((x0 + x1) / 2))\" y=\"\(f(h - 10))\" text-anchor=\"middle\">\(escape(xTitle))</text>\n"
        s += "<text transform=\"translate(16,\(f((y0 + y1) / 2))) rotate(-90)\" text-anchor=\"middle\">\(escape(yTitle))</text>\n"
        // Data: error bars, lines, points.
        for line in series {
            for p in line.points {
                guard let lo = p.low, let hi = p.high else { continue }
                let c = p.shade.map(Self.shade) ?? line.color
                s += "<line x1=\"\(f(px(p.x)))\" y1=\"\(f(py(lo)))\" x2=\"\(f(px(p.x)))\" y2=\"\(f(py(hi)))\" stroke=\"\(c)\"/>"
                for y in [lo, hi] { s += "<line x1=\"\(f(px(p.x) - 3))\" y1=\"\(f(py(y)))\" x2=\"\(f(px(p.x) + 3))\" y2=\"\(f(py(y)))\" stroke=\"\(c)\"/>" }
                s += "\n"
            }
            if line.line, line.points.count > 1 {
                let path = line.points.map { "\(f(px($0.x))),\(f(py($0.y)))" }.joined(separator: " ")
                s += "<polyline fill=\"none\" stroke=\"\(line.color)\" stroke-width=\"1.5\" points=\"\(path)\"/>\n"
            }
            let r = line.line ? 3.0 : 2.2
            s += line.points.map { p in
                "<circle cx=\"\(f(px(p.x)))\" cy=\"\(f(py(p.y)))\" r=\"\(r)\" fill=\"\(p.shade.map(Self.shade) ?? line.color)\"/>"
            }.joined() + "\n"
        }
        // Legend, right of the plot.
        var ly = y1 + 6
        let lx = x1 + 14
        for band in bands {
            s += "<rect x=\"\(f(lx))\" y=\"\(f(ly - 8))\" width=\"14\" height=\"10\" fill=\"\(band.color)\" fill-opacity=\"0.25\"/>"
            s += "<text x=\"\(f(lx + 20))\" y=\"\(f(ly + 1))\">\(escape(band.name))</text>\n"
            ly += 16
        }
        for line in series where !line.name.isEmpty {
            s += "<circle cx=\"\(f(lx + 7))\" cy=\"\(f(ly - 3))\" r=\"3\" fill=\"\(line.color)\"/>"
            s += "<text x=\"\(f(lx + 20))\" y=\"\(f(ly + 1))\">\(escape(line.name))</text>\n"
            ly += 16
        }
        if let shadeTitle {
            s += "<text x=\"\(f(lx))\" y=\"\(f(ly + 1))\">\(escape(shadeTitle))</text>\n"
            ly += 14
            for v in [0.0, 0.5, 1.0] {
                s += "<circle cx=\"\(f(lx + 7))\" cy=\"\(f(ly - 3))\" r=\"3\" fill=\"\(Self.shade(v))\"/>"
                s += "<text x=\"\(f(lx + 20))\" y=\"\(f(ly + 1))\">\(Self.label(v, step: 0.5))</text>\n"
                ly += 14
            }
        }
        return s + "</svg>\n"
    }

    func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}
