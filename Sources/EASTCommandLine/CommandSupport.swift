import ArgumentParser
import EASTCore
import EASTStages
import Foundation

/// How every `east` subcommand reports failure: one line on stderr naming the
/// place (`file:line: reason`) and exit code 1. Nothing is written to the
/// output before all input has been checked.
public func failing<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as ExitCode {
        throw error
    } catch let error as ValidationError {
        throw error
    } catch {
        printError("east: \(error)")
        throw ExitCode.failure
    }
}

public func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

/// Writes JSON lines to a file (atomically) or to stdout.
public func writeLines(_ lines: [JSON], to output: String?) throws {
    let text = lines.map { $0.text + "\n" }.joined()
    if let output {
        try AtomicFile.write(text, to: output)
    } else {
        FileHandle.standardOutput.write(Data(text.utf8))
    }
}

extension WeightingStrategy: ExpressibleByArgument {}
extension LossKind: ExpressibleByArgument {}
extension ArithmeticTask: ExpressibleByArgument {}
extension ArithmeticTask.Split: ExpressibleByArgument {}
extension RunWeighting: ExpressibleByArgument {}

/// Prints a progress line at once (no buffering: operators watch these live).
public func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
