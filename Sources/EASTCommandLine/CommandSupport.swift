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
    } catch {
        throw reported(error)
    }
}

/// The same for async bodies (services).
public func failing<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch {
        throw reported(error)
    }
}

/// ArgumentParser's own errors pass through (it prints them with usage);
/// any other is printed once and becomes exit code 1.
private func reported(_ error: Error) -> Error {
    if error is ExitCode || error is ValidationError { return error }
    printError("east: " + printable("\(error)"))
    return ExitCode.failure
}

/// A message with the control characters a damaged file can put into it (a
/// tensor name with NUL bytes) written as escapes, so that it reaches a
/// terminal or a log as text.
public func printable(_ message: String) -> String {
    var out = ""
    for scalar in message.unicodeScalars {
        if scalar.properties.generalCategory == .control && scalar != "\n" && scalar != "\t" {
            out += "\\u{" + String(scalar.value, radix: 16) + "}"
        } else {
            out.unicodeScalars.append(scalar)
        }
    }
    return out
}

public func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

/// Writes JSON lines to a file (atomically) or to stdout.
public func writeLines<T: Encodable>(_ values: [T], to output: String?) throws {
    let text = try values.map { try JSONCoding.string($0) + "\n" }.joined()
    if let output {
        try AtomicFile.write(text, to: output)
    } else {
        FileHandle.standardOutput.write(Data(text.utf8))
    }
}

/// Refuses a `--threads` outside 1...256 (each is an OS thread of the engine's pool).
public func validateThreads(_ threads: Int) throws {
    guard (1...256).contains(threads) else { throw ValidationError("--threads must be from 1 to 256, got \(threads)") }
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
