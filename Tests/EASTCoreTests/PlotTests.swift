@testable import EASTCore
import Testing

/// The report figures: round ticks (whole numbers for versions), axis titles, error bars, legend.
@Suite struct PlotTests {
    @Test func ticksAreRoundAndWholeWhereAsked() {
        #expect(Plot.ticks((0, 2), integer: true) == [0, 1, 2])
        #expect(Plot.ticks((-0.1, 2.1), integer: true) == [0, 1, 2])  // never 0.5 for a version
        #expect(Plot.ticks((0, 1), integer: false) == [0, 0.2, 0.4, 0.6000000000000001, 0.8, 1])
        #expect(Plot.ticks((42.3, 47.8), integer: false) == [44, 46])
        #expect(Plot.label(0.4, step: 0.2) == "0.4" && Plot.label(44, step: 2) == "44")
    }

    @Test func svgHasTitlesTicksErrorBarsAndLegend() {
        var plot = Plot(title: "accuracy per version", x: "policy version", y: "accuracy (%)", integerX: true)
        plot.series = [.init("vanilla", color: "blue", points: [.init(x: 0, y: 42, low: 40, high: 44), .init(x: 1, y: 45, low: 43, high: 47)])]
        plot.bands = [.init("baseline (95% CI)", low: 41, high: 43, color: "gray")]
        let svg = plot.svg()
        #expect(svg.contains(">policy version</text>") && svg.contains(">accuracy (%)</text>"))
        #expect(svg.contains(">0</text>") && svg.contains(">1</text>") && !svg.contains(">0.5</text>"))
        #expect(svg.contains(">vanilla</text>") && svg.contains(">baseline (95% CI)</text>"))
        #expect(svg.components(separatedBy: "<line").count - 1 >= 2 + 2 * 3)  // two axes and two error bars with caps
    }
}
