import Foundation
import Testing

/// The documentation against the code: every relative link and image in
/// README.md and docs/ resolves, every `east` command (and worker
/// executable) the docs show exists with every flag they give it, and
/// docs/configuration.md holds the settings table `east settings` prints.
@Suite struct DocsTests {
    static var pages: [URL] {
        let docs = EastProcess.root.appendingPathComponent("docs")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: docs.path)) ?? []
        return [EastProcess.root.appendingPathComponent("README.md")]
            + names.filter { $0.hasSuffix(".md") }.sorted().map { docs.appendingPathComponent($0) }
    }

    static func text(_ page: URL) throws -> String { try String(contentsOf: page, encoding: .utf8) }

    @Test func everyRelativeLinkResolves() throws {
        #expect(Self.pages.count >= 10, "README.md and docs/")
        for page in Self.pages {
            let text = try Self.text(page)
            var rest = text[...]
            // Markdown links and images: ](target) outside code.
            while let open = rest.range(of: "](") {
                rest = rest[open.upperBound...]
                guard let close = rest.firstIndex(of: ")") else { break }
                let target = String(rest[..<close]).split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)[0]
                rest = rest[close...]
                guard !target.isEmpty, !target.contains("://"), !target.hasPrefix("mailto:") else { continue }
                let resolved = page.deletingLastPathComponent().appendingPathComponent(String(target)).standardized
                #expect(FileManager.default.fileExists(atPath: resolved.path), "\(page.lastPathComponent): \(target) does not exist")
            }
        }
    }

    /// Command lines in code: a line of a fenced block, or an inline code
    /// span, that starts with `east ` or `east-<role>`.
    static func commandLines(_ text: String) -> [String] {
        var lines: [String] = []
        var fenced = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("```") { fenced.toggle(); continue }
            if fenced || line.hasPrefix("    ") {
                lines.append(trimmed.hasPrefix("$ ") ? String(trimmed.dropFirst(2)) : trimmed)
            } else {
                let spans = line.split(separator: "`", omittingEmptySubsequences: false)
                lines += stride(from: 1, to: spans.count, by: 2).map { String(spans[$0]) }
            }
        }
        return lines.compactMap { line in
            // Several commands on a line (`&`, `;`, `|`, `&&`): each on its own.
            line.replacingOccurrences(of: "&&", with: ";").split(whereSeparator: { ";|&".contains($0) }).map {
                $0.trimmingCharacters(in: .whitespaces)
            }.filter { $0.hasPrefix("east ") || $0 == "east" || $0.hasPrefix("east-") }.first
        }
    }

    @Test func everyCommandAndFlagTheDocsGiveExists() throws {
        var checked = 0
        var helps: [String: String] = [:]
        func help(_ path: [String]) throws -> String? {
            let key = path.joined(separator: " ")
            if let cached = helps[key] { return cached }
            let executable = path[0] == "east" ? EastProcess.binary : EastProcess.binary.deletingLastPathComponent().appendingPathComponent(path[0])
            guard FileManager.default.isExecutableFile(atPath: executable.path) else { return nil }
            let process = Process()
            process.executableURL = executable
            process.arguments = Array(path.dropFirst()) + ["--help"]
            let out = Pipe()
            (process.standardOutput, process.standardError) = (out, out)
            try process.run()
            let data = out.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            let text = process.terminationStatus == 0 ? String(decoding: data, as: UTF8.self) : nil
            helps[key] = text
            return text
        }
        for page in Self.pages {
            for line in Self.commandLines(try Self.text(page)) {
                let words = line.split(separator: " ").map(String.init)
                guard let program = words.first, program == "east" || ["east-coordinator", "east-sampler", "east-clusterer",
                                                                         "east-trainer", "east-evaluator"].contains(program) else { continue }
                // The subcommand path: the words before the first flag or argument that is not a subcommand.
                var path = [program]
                for word in words.dropFirst() where !word.hasPrefix("-") {
                    guard word.allSatisfy({ $0.isLowercase || $0 == "-" }), let text = try help(path),
                          text.contains("\n  \(word) ") || text.contains("\n  \(word)\n") else { break }
                    path.append(word)
                }
                var text = try #require(try help(path), "\(page.lastPathComponent): `\(path.joined(separator: " "))` has no help: \(line)")
                var owner = path.joined(separator: " ")
                for word in words.map({ $0.hasPrefix("[") ? String($0.dropFirst()) : $0 }) where word.hasPrefix("--") {
                    if word == "--" {  // `east cluster up ... -- <run options>`: the coordinator's
                        text = try #require(try help(["east-coordinator"]))
                        owner = "east-coordinator"
                        continue
                    }
                    let flag = String(word.prefix { $0 != "=" && $0 != "]" && $0 != "," && $0 != ")" && $0 != "|" })
                    guard flag.count > 2 else { continue }
                    #expect(Self.names(text, flag), "\(page.lastPathComponent): \(owner) has no \(flag) (in: \(line))")
                    checked += 1
                }
            }
        }
        #expect(checked > 40, "only \(checked) flags found in the docs")
    }

    /// Whether a help text names `flag` as a whole (`--a` is not `--amqp-url`).
    static func names(_ help: String, _ flag: String) -> Bool {
        var rest = help[...]
        while let found = rest.range(of: flag) {
            let next = rest[found.upperBound...].first
            if next == nil || !(next!.isLetter || next!.isNumber || next! == "-") { return true }
            rest = rest[found.upperBound...]
        }
        return false
    }

    @Test func configurationPageHoldsTheSettingsTable() throws {
        let page = try Self.text(EastProcess.root.appendingPathComponent("docs/configuration.md"))
        let begin = try #require(page.range(of: "<!-- settings:begin -->\n")), end = try #require(page.range(of: "<!-- settings:end -->"))
        let table = try EastProcess.run(["settings"])
        #expect(table.status == 0)
        #expect(String(page[begin.upperBound..<end.lowerBound]) == table.stdout,
                "regenerate the table: east settings (between the settings markers of docs/configuration.md)")
    }
}
