import ArgumentParser
import EASTCommandLine
import EASTCore

struct GradeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "grade",
        abstract: "Extract, normalise and grade final answers.",
        discussion: """
            Each input line is {"response": str, "gold": str} (gold is a final answer, \
            not a solution). Each output line is {"extracted", "normalized", "correct"}.
            """)

    @Option(help: "JSON Lines input file.")
    var input: String

    @Option(help: "Output file (written atomically); standard output when omitted.")
    var output: String?

    func run() throws {
        try failing {
            let lines = try GradeReport.grade(lines: JSONLines.lines(ofFile: input), file: input)
            try writeLines(lines, to: output)
        }
    }
}
